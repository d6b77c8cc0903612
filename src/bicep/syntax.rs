//! syntax: the Bicep syntax tree the parser builds and the lowering pass walks.
//!
//! Plain enums and structs, no parent links and no lifetimes: every node owns its children
//! and carries the [`TextRange`] (byte offsets into the parsed text) where it was written.
//! A statement's range includes its decorators. Nodes that could not be parsed become
//! `Error` variants, so a tree always exists next to its [`super::SyntaxError`]s.

/// A byte range `start..end` in the parsed text. Always on UTF-8 char boundaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TextRange {
    pub start: u32,
    pub end: u32,
}

impl TextRange {
    pub fn new(start: u32, end: u32) -> TextRange {
        TextRange {
            start,
            end: end.max(start),
        }
    }

    /// An empty range at `offset`: where something is missing.
    pub fn empty(offset: u32) -> TextRange {
        TextRange {
            start: offset,
            end: offset,
        }
    }

    /// The smallest range covering both.
    pub fn cover(self, other: TextRange) -> TextRange {
        TextRange {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn len(&self) -> u32 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub fn as_range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The text this range covers.
    pub fn slice<'a>(&self, text: &'a str) -> &'a str {
        &text[self.as_range()]
    }
}

/// A whole `.bicep` or `.bicepparam` file.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Program {
    pub statements: Vec<Statement>,
    pub range: TextRange,
}

/// A name as written: a symbol, a property name after `.`, a decorator or function name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    pub name: String,
    pub range: TextRange,
}

/// `@name`, `@name(args)` or `@ns.name(args)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Decorator {
    /// `sys` in `@sys.description('...')`.
    pub namespace: Option<Ident>,
    pub name: Ident,
    /// `None` for `@name` without parentheses.
    pub args: Option<Vec<Expr>>,
    pub range: TextRange,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub decorators: Vec<Decorator>,
    /// The leading keyword (`param`, `resource`, ...); empty for [`StatementKind::Error`].
    pub keyword: TextRange,
    pub kind: StatementKind,
    /// From the first decorator to the end of the statement.
    pub range: TextRange,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StatementKind {
    /// `targetScope = 'subscription'`
    TargetScope(Expr),
    /// `metadata name = expr`
    Metadata(MetadataDecl),
    /// `param name type [= default]`, and `param name = value` in a `.bicepparam` file.
    Param(ParamDecl),
    /// `var name [type] = value`
    Var(VarDecl),
    /// `resource sym 'Type@version' [existing] = body`
    Resource(ResourceDecl),
    /// `module sym 'path' = body`
    Module(ModuleDecl),
    /// `output name type = value`
    Output(OutputDecl),
    /// `type name = typeExpr`
    Type(TypeDecl),
    /// `func name(a type, ...) returnType => body`
    Func(FuncDecl),
    /// `import ...` in all its forms.
    Import(ImportDecl),
    /// `extension spec [with config] [as alias]`, and the legacy `provider` spelling.
    Extension(ExtensionDecl),
    /// `assert name = condition`
    Assert(AssertDecl),
    /// `using 'main.bicep'` or `using none` (`.bicepparam`).
    Using(UsingDecl),
    /// `extends 'base.bicepparam'` (`.bicepparam`).
    Extends(Expr),
    /// A line the parser could not make sense of; its error is in `Parsed::errors`.
    Error,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MetadataDecl {
    pub name: Ident,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParamDecl {
    pub name: Ident,
    /// `None` in `.bicepparam` assignments (`param name = value`).
    pub ty: Option<TypeExpr>,
    pub value: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct VarDecl {
    pub name: Ident,
    /// Typed variables: `var name string = ...`.
    pub ty: Option<TypeExpr>,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ResourceDecl {
    pub name: Ident,
    /// The `'Microsoft.X/y@version'` string.
    pub type_string: Expr,
    pub existing: bool,
    /// An object, [`ExprKind::If`] or [`ExprKind::For`].
    pub body: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModuleDecl {
    pub name: Ident,
    /// A relative path or a registry (`br:`, `br/alias:`) or template spec (`ts:`) reference.
    pub path: Expr,
    /// An object, [`ExprKind::If`] or [`ExprKind::For`].
    pub body: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutputDecl {
    pub name: Ident,
    /// `resource 'T@v'` outputs are [`TypeKind::Resource`].
    pub ty: TypeExpr,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TypeDecl {
    pub name: Ident,
    pub value: TypeExpr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FuncDecl {
    pub name: Ident,
    pub params: Vec<TypedParam>,
    pub return_type: TypeExpr,
    pub body: Expr,
    /// From `(` to the end of the body.
    pub lambda_range: TextRange,
}

/// A parameter of a user function or a typed lambda.
#[derive(Clone, Debug, PartialEq)]
pub struct TypedParam {
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub range: TextRange,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ImportDecl {
    pub items: ImportItems,
    /// The `from` path for `{...}`/`*` imports; the provider spec for the legacy form.
    pub source: Expr,
    /// Legacy provider form only: `with {...}`.
    pub config: Option<Expr>,
    /// Legacy provider form only: `as alias`.
    pub alias: Option<Ident>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ImportItems {
    /// `import 'spec' [with ...] [as alias]` (the pre-`extension` provider import).
    Legacy,
    /// `import { a, b as c } from 'file.bicep'`
    Named(Vec<ImportItem>),
    /// `import * as ns from 'file.bicep'`
    Wildcard(Ident),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ImportItem {
    pub name: Ident,
    pub alias: Option<Ident>,
    pub range: TextRange,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExtensionDecl {
    /// `true` for the legacy `provider` keyword.
    pub legacy_provider: bool,
    /// An identifier (`microsoftGraph`) or a string (`'br:...'`).
    pub spec: Expr,
    pub config: Option<Expr>,
    pub alias: Option<Ident>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AssertDecl {
    pub name: Ident,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct UsingDecl {
    /// `None` for `using none`.
    pub path: Option<Expr>,
    pub config: Option<Expr>,
}

/// An expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub range: TextRange,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    String(StringLit),
    /// Bicep has only integers; a minus sign is a [`UnaryOp::Neg`].
    Int(u64),
    Bool(bool),
    Null,
    /// A reference to a symbol (parameter, variable, resource, loop variable, function).
    Ident(Ident),
    Array(Vec<ArrayItem>),
    Object(Vec<ObjectItem>),
    /// `base.name`, or `base.?name` when `safe`.
    Property(Box<PropertyAccess>),
    /// `base[index]`, or `base[?index]` when `safe`.
    Index(Box<IndexAccess>),
    /// `base::name`: a nested resource.
    ResourceAccess(Box<ResourceAccess>),
    /// `base!`
    NonNull(Box<Expr>),
    /// `name(args)` or `target.name(args)` (`az.resourceGroup()`, `stg.listKeys()`).
    Call(Box<Call>),
    Unary(UnaryOp, Box<Expr>),
    Binary(Box<Binary>),
    /// `condition ? then : else`
    Ternary(Box<Ternary>),
    Lambda(Box<Lambda>),
    Paren(Box<Expr>),
    /// `[for item in iterable: body]`
    For(Box<ForExpr>),
    /// `if (condition) body`: only as a resource/module body or a `for` body.
    If(Box<IfExpr>),
    /// Something that did not parse; its error is in `Parsed::errors`.
    Error,
}

/// A string: `'a${b}c'`, or `'''multi-line'''` (one text part, never interpolated).
#[derive(Clone, Debug, PartialEq)]
pub struct StringLit {
    /// Text parts hold the decoded text (escapes resolved); interpolations hold expressions.
    /// Adjacent text parts never occur; an empty string has no parts.
    pub parts: Vec<StringPart>,
    pub multiline: bool,
}

impl StringLit {
    /// The value of a string without interpolation.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [StringPart::Text { value, .. }] => Some(value),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum StringPart {
    Text { value: String, range: TextRange },
    Interpolation(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ArrayItem {
    Value(Expr),
    Spread(Spread),
}

/// `...expr` in an array or object.
#[derive(Clone, Debug, PartialEq)]
pub struct Spread {
    pub value: Expr,
    pub range: TextRange,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ObjectItem {
    Property(ObjectProperty),
    Spread(Spread),
    /// A nested child resource declared inside a resource body.
    Resource(Box<Statement>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ObjectProperty {
    pub key: PropertyKey,
    pub value: Expr,
    /// From the key to the end of the value.
    pub range: TextRange,
}

/// An object key: an identifier or a (possibly interpolated) string.
#[derive(Clone, Debug, PartialEq)]
pub enum PropertyKey {
    Ident(Ident),
    String { value: StringLit, range: TextRange },
}

impl PropertyKey {
    pub fn range(&self) -> TextRange {
        match self {
            PropertyKey::Ident(id) => id.range,
            PropertyKey::String { range, .. } => *range,
        }
    }

    /// The key's name, unless it is an interpolated string.
    pub fn name(&self) -> Option<&str> {
        match self {
            PropertyKey::Ident(id) => Some(&id.name),
            PropertyKey::String { value, .. } => value.as_literal(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PropertyAccess {
    pub base: Expr,
    pub name: Ident,
    pub safe: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct IndexAccess {
    pub base: Expr,
    pub index: Expr,
    pub safe: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ResourceAccess {
    pub base: Expr,
    pub name: Ident,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// `az` in `az.resourceGroup()`, `stg` in `stg.listKeys()`; `None` for `f(x)`.
    pub target: Option<Expr>,
    pub name: Ident,
    pub args: Vec<Expr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `!`
    Not,
    /// `-`
    Neg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `??`
    Coalesce,
    /// `||`
    Or,
    /// `&&`
    And,
    /// `==`
    Eq,
    /// `!=`
    NotEq,
    /// `=~` (case-insensitive)
    EqI,
    /// `!~` (case-insensitive)
    NotEqI,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl BinaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Coalesce => "??",
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Eq => "==",
            BinaryOp::NotEq => "!=",
            BinaryOp::EqI => "=~",
            BinaryOp::NotEqI => "!~",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Binary {
    pub op: BinaryOp,
    pub op_range: TextRange,
    pub lhs: Expr,
    pub rhs: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ternary {
    pub condition: Expr,
    pub then: Expr,
    pub otherwise: Expr,
}

/// `x => e`, `(x, y) => e`, `() => e`, `(x string) => e`.
#[derive(Clone, Debug, PartialEq)]
pub struct Lambda {
    pub params: Vec<TypedParam>,
    pub body: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ForExpr {
    /// `x` in `for x in ...`, `x` in `for (x, i) in ...`.
    pub item: Ident,
    /// `i` in `for (x, i) in ...`.
    pub index: Option<Ident>,
    pub iterable: Expr,
    /// The loop body; an [`ExprKind::If`] for filtered loops.
    pub body: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct IfExpr {
    pub condition: Expr,
    pub body: Expr,
}

/// A type expression (parameter, output, user-defined type, function signature).
#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeKind,
    pub range: TextRange,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TypeKind {
    /// `string`, `int`, `bool`, `object`, `array`, `any`, or a user-defined type.
    Name(Ident),
    /// `base.name`: a property of an object type, or a type from an imported namespace.
    Property {
        base: Box<TypeExpr>,
        name: Ident,
    },
    /// `base.*`: the additional-properties type of an object type.
    AdditionalProperties(Box<TypeExpr>),
    /// `base[0]`: an element of a tuple type.
    Index {
        base: Box<TypeExpr>,
        index: u64,
    },
    /// `base[*]`: the item type of an array type.
    Items(Box<TypeExpr>),
    /// `T[]`
    Array(Box<TypeExpr>),
    /// `T?`
    Nullable(Box<TypeExpr>),
    Object(Vec<ObjectTypeItem>),
    /// `[string, int]`
    Tuple(Vec<TypeMember>),
    /// `'a' | 'b' | T`
    Union(Vec<TypeMember>),
    String(StringLit),
    Int {
        value: u64,
        negative: bool,
    },
    Bool(bool),
    Null,
    /// `resource<'T@v'>` or `resource 'T@v'`; the range of the string is in the expr.
    Resource(Box<Expr>),
    /// `name<args>`: utility types such as `resourceInput<'T@v'>` and `resourceOutput<'T@v'>`.
    Generic {
        name: Ident,
        args: Vec<TypeExpr>,
    },
    Paren(Box<TypeExpr>),
    Error,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ObjectTypeItem {
    /// `name: T`, `name?: T`, `'quoted name': T`
    Property(ObjectTypeProperty),
    /// `*: T`
    Additional(TypeMember),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ObjectTypeProperty {
    pub decorators: Vec<Decorator>,
    pub key: PropertyKey,
    pub optional: bool,
    pub value: TypeExpr,
    pub range: TextRange,
}

/// A tuple item, union member or `*:` type, with its decorators.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeMember {
    pub decorators: Vec<Decorator>,
    pub value: TypeExpr,
    pub range: TextRange,
}

/// Any node of the tree, for generic walks that need no recursion (range checks, the depth
/// limit, searching for comments' targets).
#[derive(Clone, Copy, Debug)]
pub enum NodeRef<'a> {
    Statement(&'a Statement),
    Decorator(&'a Decorator),
    Expr(&'a Expr),
    Type(&'a TypeExpr),
    Ident(&'a Ident),
    Key(&'a PropertyKey),
    Property(&'a ObjectProperty),
    Spread(&'a Spread),
    /// The text part of a string, by its range.
    StringText(TextRange),
    TypeProperty(&'a ObjectTypeProperty),
    TypeMember(&'a TypeMember),
    Param(&'a TypedParam),
    ImportItem(&'a ImportItem),
}

impl<'a> NodeRef<'a> {
    pub fn range(self) -> TextRange {
        match self {
            NodeRef::Statement(n) => n.range,
            NodeRef::Decorator(n) => n.range,
            NodeRef::Expr(n) => n.range,
            NodeRef::Type(n) => n.range,
            NodeRef::Ident(n) => n.range,
            NodeRef::Key(n) => n.range(),
            NodeRef::Property(n) => n.range,
            NodeRef::Spread(n) => n.range,
            NodeRef::StringText(r) => r,
            NodeRef::TypeProperty(n) => n.range,
            NodeRef::TypeMember(n) => n.range,
            NodeRef::Param(n) => n.range,
            NodeRef::ImportItem(n) => n.range,
        }
    }

    /// Appends the direct children, in source order.
    pub fn children(self, out: &mut Vec<NodeRef<'a>>) {
        use NodeRef as N;
        match self {
            N::Statement(s) => {
                out.extend(s.decorators.iter().map(N::Decorator));
                statement_children(&s.kind, out);
            }
            N::Decorator(d) => {
                out.extend(d.namespace.iter().map(N::Ident));
                out.push(N::Ident(&d.name));
                out.extend(d.args.iter().flatten().map(N::Expr));
            }
            N::Expr(e) => expr_children(e, out),
            N::Type(t) => type_children(t, out),
            N::Key(k) => {
                if let PropertyKey::String { value, .. } = k {
                    string_children(value, out);
                }
            }
            N::Property(p) => {
                out.push(N::Key(&p.key));
                out.push(N::Expr(&p.value));
            }
            N::Spread(s) => out.push(N::Expr(&s.value)),
            N::TypeProperty(p) => {
                out.extend(p.decorators.iter().map(N::Decorator));
                out.push(N::Key(&p.key));
                out.push(N::Type(&p.value));
            }
            N::TypeMember(m) => {
                out.extend(m.decorators.iter().map(N::Decorator));
                out.push(N::Type(&m.value));
            }
            N::Param(p) => {
                out.push(N::Ident(&p.name));
                out.extend(p.ty.iter().map(N::Type));
            }
            N::ImportItem(i) => {
                out.push(N::Ident(&i.name));
                out.extend(i.alias.iter().map(N::Ident));
            }
            N::Ident(_) | N::StringText(_) => {}
        }
    }
}

fn statement_children<'a>(kind: &'a StatementKind, out: &mut Vec<NodeRef<'a>>) {
    use NodeRef as N;
    match kind {
        StatementKind::TargetScope(e) => out.push(N::Expr(e)),
        StatementKind::Metadata(d) => out.extend([N::Ident(&d.name), N::Expr(&d.value)]),
        StatementKind::Param(d) => {
            out.push(N::Ident(&d.name));
            out.extend(d.ty.iter().map(N::Type));
            out.extend(d.value.iter().map(N::Expr));
        }
        StatementKind::Var(d) => {
            out.push(N::Ident(&d.name));
            out.extend(d.ty.iter().map(N::Type));
            out.push(N::Expr(&d.value));
        }
        StatementKind::Resource(d) => {
            out.extend([N::Ident(&d.name), N::Expr(&d.type_string), N::Expr(&d.body)])
        }
        StatementKind::Module(d) => {
            out.extend([N::Ident(&d.name), N::Expr(&d.path), N::Expr(&d.body)])
        }
        StatementKind::Output(d) => {
            out.extend([N::Ident(&d.name), N::Type(&d.ty), N::Expr(&d.value)])
        }
        StatementKind::Type(d) => out.extend([N::Ident(&d.name), N::Type(&d.value)]),
        StatementKind::Func(d) => {
            out.push(N::Ident(&d.name));
            out.extend(d.params.iter().map(N::Param));
            out.push(N::Type(&d.return_type));
            out.push(N::Expr(&d.body));
        }
        StatementKind::Import(d) => {
            match &d.items {
                ImportItems::Legacy => {}
                ImportItems::Named(items) => out.extend(items.iter().map(N::ImportItem)),
                ImportItems::Wildcard(ns) => out.push(N::Ident(ns)),
            }
            out.push(N::Expr(&d.source));
            out.extend(d.config.iter().map(N::Expr));
            out.extend(d.alias.iter().map(N::Ident));
        }
        StatementKind::Extension(d) => {
            out.push(N::Expr(&d.spec));
            out.extend(d.config.iter().map(N::Expr));
            out.extend(d.alias.iter().map(N::Ident));
        }
        StatementKind::Assert(d) => out.extend([N::Ident(&d.name), N::Expr(&d.value)]),
        StatementKind::Extends(e) => out.push(N::Expr(e)),
        StatementKind::Using(d) => {
            out.extend(d.path.iter().map(N::Expr));
            out.extend(d.config.iter().map(N::Expr));
        }
        StatementKind::Error => {}
    }
}

fn string_children<'a>(s: &'a StringLit, out: &mut Vec<NodeRef<'a>>) {
    for part in &s.parts {
        match part {
            StringPart::Text { range, .. } => out.push(NodeRef::StringText(*range)),
            StringPart::Interpolation(e) => out.push(NodeRef::Expr(e)),
        }
    }
}

fn expr_children<'a>(e: &'a Expr, out: &mut Vec<NodeRef<'a>>) {
    use NodeRef as N;
    match &e.kind {
        ExprKind::String(s) => string_children(s, out),
        ExprKind::Int(_) | ExprKind::Bool(_) | ExprKind::Null | ExprKind::Error => {}
        ExprKind::Ident(id) => out.push(N::Ident(id)),
        ExprKind::Array(items) => out.extend(items.iter().map(|i| match i {
            ArrayItem::Value(v) => N::Expr(v),
            ArrayItem::Spread(s) => N::Spread(s),
        })),
        ExprKind::Object(items) => out.extend(items.iter().map(|i| match i {
            ObjectItem::Property(p) => N::Property(p),
            ObjectItem::Spread(s) => N::Spread(s),
            ObjectItem::Resource(r) => N::Statement(r),
        })),
        ExprKind::Property(p) => out.extend([N::Expr(&p.base), N::Ident(&p.name)]),
        ExprKind::Index(i) => out.extend([N::Expr(&i.base), N::Expr(&i.index)]),
        ExprKind::ResourceAccess(r) => out.extend([N::Expr(&r.base), N::Ident(&r.name)]),
        ExprKind::NonNull(b) | ExprKind::Paren(b) | ExprKind::Unary(_, b) => out.push(N::Expr(b)),
        ExprKind::Call(c) => {
            out.extend(c.target.iter().map(N::Expr));
            out.push(N::Ident(&c.name));
            out.extend(c.args.iter().map(N::Expr));
        }
        ExprKind::Binary(b) => out.extend([N::Expr(&b.lhs), N::Expr(&b.rhs)]),
        ExprKind::Ternary(t) => out.extend([
            N::Expr(&t.condition),
            N::Expr(&t.then),
            N::Expr(&t.otherwise),
        ]),
        ExprKind::Lambda(l) => {
            out.extend(l.params.iter().map(N::Param));
            out.push(N::Expr(&l.body));
        }
        ExprKind::For(f) => {
            out.push(N::Ident(&f.item));
            out.extend(f.index.iter().map(N::Ident));
            out.extend([N::Expr(&f.iterable), N::Expr(&f.body)]);
        }
        ExprKind::If(i) => out.extend([N::Expr(&i.condition), N::Expr(&i.body)]),
    }
}

fn type_children<'a>(t: &'a TypeExpr, out: &mut Vec<NodeRef<'a>>) {
    use NodeRef as N;
    match &t.kind {
        TypeKind::Name(id) => out.push(N::Ident(id)),
        TypeKind::Property { base, name } => out.extend([N::Type(base), N::Ident(name)]),
        TypeKind::AdditionalProperties(b)
        | TypeKind::Index { base: b, .. }
        | TypeKind::Items(b)
        | TypeKind::Array(b)
        | TypeKind::Nullable(b)
        | TypeKind::Paren(b) => out.push(N::Type(b)),
        TypeKind::Object(items) => out.extend(items.iter().map(|i| match i {
            ObjectTypeItem::Property(p) => N::TypeProperty(p),
            ObjectTypeItem::Additional(m) => N::TypeMember(m),
        })),
        TypeKind::Tuple(m) | TypeKind::Union(m) => out.extend(m.iter().map(N::TypeMember)),
        TypeKind::String(s) => string_children(s, out),
        TypeKind::Resource(e) => out.push(N::Expr(e)),
        TypeKind::Generic { name, args } => {
            out.push(N::Ident(name));
            out.extend(args.iter().map(N::Type));
        }
        TypeKind::Int { .. } | TypeKind::Bool(_) | TypeKind::Null | TypeKind::Error => {}
    }
}

impl Program {
    /// Every node in pre-order (parents before children, siblings in source order),
    /// without recursion.
    pub fn nodes(&self) -> Nodes<'_> {
        Nodes {
            stack: self
                .statements
                .iter()
                .rev()
                .map(NodeRef::Statement)
                .collect(),
            scratch: Vec::new(),
        }
    }
}

impl<'a> NodeRef<'a> {
    /// Levels of the tree under this node (1 for a leaf), counted without recursion.
    pub fn height(self) -> usize {
        let mut stack = vec![(self, 1usize)];
        let mut scratch = Vec::new();
        let mut max = 0;
        while let Some((n, depth)) = stack.pop() {
            max = max.max(depth);
            scratch.clear();
            n.children(&mut scratch);
            stack.extend(scratch.drain(..).map(|c| (c, depth + 1)));
        }
        max
    }

    /// This node and everything below it, in pre-order, without recursion.
    pub fn descendants(self) -> Nodes<'a> {
        Nodes {
            stack: vec![self],
            scratch: Vec::new(),
        }
    }
}

/// Pre-order iterator over nodes; see [`Program::nodes`].
pub struct Nodes<'a> {
    stack: Vec<NodeRef<'a>>,
    scratch: Vec<NodeRef<'a>>,
}

impl<'a> Iterator for Nodes<'a> {
    type Item = NodeRef<'a>;

    fn next(&mut self) -> Option<NodeRef<'a>> {
        let node = self.stack.pop()?;
        self.scratch.clear();
        node.children(&mut self.scratch);
        self.stack.extend(self.scratch.drain(..).rev());
        Some(node)
    }
}
