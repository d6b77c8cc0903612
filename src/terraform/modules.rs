//! terraform/modules: files grouped into modules by directory, module calls resolved to
//! directories, module instances with their inputs, and reference resolution (`var.`,
//! `local.`, `module.`, resources) inside an instance.

use super::eval::{self, unknown, Eval, Lazy, Scope, R};
use super::parse::{Attr, Block, Body, Expr, ExprKind, Op};
use super::types;
use crate::model::{Diagnostic, Node, Str, Value};
use crate::source::{FileId, Span};
use foldhash::{HashMap, HashMapExt};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

/// Module nesting deeper than this is refused (a diagnostic; the call is not followed).
const MAX_MODULE_DEPTH: usize = 24;
/// Directories loaded in one scan (local module sources may lead outside the scan).
const MAX_MODULES: usize = 4000;
/// Module instances in one scan (nested `for_each` multiplies).
const MAX_INSTANCES_TOTAL: usize = 20_000;

/// One module: the `.tf`/`.tf.json` files of a directory, overrides merged.
#[derive(Default)]
pub struct ModuleDef {
    pub dir: PathBuf,
    pub files: Vec<FileId>,
    pub variables: Vec<Block>,
    pub locals: HashMap<String, Attr>,
    pub outputs: HashMap<String, Block>,
    pub resources: Vec<Block>,
    pub res_index: HashMap<String, usize>,
    /// `data` blocks by `type.name`: their arguments are known like a resource's.
    pub data: HashMap<String, Block>,
    pub calls: Vec<Block>,
    pub call_index: HashMap<String, usize>,
    /// Lowest azurerm version allowed by `required_providers`.
    pub azurerm_min: Option<String>,
    /// `.terraform.lock.hcl` azurerm version, for root modules.
    pub lock_version: Option<String>,
    /// `.terraform/modules/modules.json`: module key → directory.
    pub fetched: BTreeMap<String, PathBuf>,
    /// True when some other module of the scan calls this directory.
    pub called: bool,
    pub in_scan: bool,
}

impl ModuleDef {
    pub fn resource(&self, ty: &str, name: &str) -> Option<&Block> {
        self.res_index
            .get(&format!("{ty}.{name}"))
            .map(|&i| &self.resources[i])
    }

    fn add_body(&mut self, body: Body, is_override: bool) {
        for b in body.blocks {
            match b.kind.as_str() {
                "variable" if b.labels.len() == 1 => {
                    match self.variables.iter_mut().find(|v| v.labels == b.labels) {
                        Some(v) if is_override => merge_block(v, b),
                        Some(_) => {}
                        None => self.variables.push(b),
                    }
                }
                "locals" => {
                    for a in b.body.attrs {
                        if is_override || !self.locals.contains_key(&a.name) {
                            self.locals.insert(a.name.clone(), a);
                        }
                    }
                }
                "output" if b.labels.len() == 1 => {
                    let name = b.labels[0].clone();
                    match self.outputs.get_mut(&name) {
                        Some(v) if is_override => merge_block(v, b),
                        Some(_) => {}
                        None => {
                            self.outputs.insert(name, b);
                        }
                    }
                }
                "resource" if b.labels.len() == 2 => {
                    let key = format!("{}.{}", b.labels[0], b.labels[1]);
                    match self.res_index.get(&key) {
                        Some(&i) if is_override => merge_block(&mut self.resources[i], b),
                        Some(_) => {}
                        None => {
                            self.res_index.insert(key, self.resources.len());
                            self.resources.push(b);
                        }
                    }
                }
                "data" if b.labels.len() == 2 => {
                    let key = format!("{}.{}", b.labels[0], b.labels[1]);
                    match self.data.get_mut(&key) {
                        Some(d) if is_override => merge_block(d, b),
                        Some(_) => {}
                        None => {
                            self.data.insert(key, b);
                        }
                    }
                }
                "module" if b.labels.len() == 1 => match self.call_index.get(&b.labels[0]) {
                    Some(&i) if is_override => merge_block(&mut self.calls[i], b),
                    Some(_) => {}
                    None => {
                        self.call_index
                            .insert(b.labels[0].clone(), self.calls.len());
                        self.calls.push(b);
                    }
                },
                // before Terraform 0.13 the constraint sat in the provider block
                "provider" if b.labels.first().is_some_and(|l| l == "azurerm") => {
                    if let Some(ExprKind::Str(v)) = b.body.attr("version").map(|a| &a.expr.kind) {
                        if let Some(min) = super::version::lowest_allowed(v) {
                            self.azurerm_min =
                                super::version::max_version(self.azurerm_min.take(), Some(min));
                        }
                    }
                }
                "terraform" => {
                    for rp in b.body.blocks_of("required_providers") {
                        if let Some(a) = rp.body.attr("azurerm") {
                            if let Some(v) = super::version::constraint_of(&a.expr) {
                                if let Some(min) = super::version::lowest_allowed(&v) {
                                    // constraints in several files of a module all apply
                                    self.azurerm_min = super::version::max_version(
                                        self.azurerm_min.take(),
                                        Some(min),
                                    );
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Override files replace attributes one by one and nested blocks by type.
fn merge_block(base: &mut Block, over: Block) {
    for a in over.body.attrs {
        match base.body.attrs.iter_mut().find(|x| x.name == a.name) {
            Some(x) => *x = a,
            None => base.body.attrs.push(a),
        }
    }
    let kinds: Vec<String> = over.body.blocks.iter().map(|b| b.kind.clone()).collect();
    if !kinds.is_empty() {
        base.body.blocks.retain(|b| !kinds.contains(&b.kind));
        base.body.blocks.extend(over.body.blocks);
    }
}

/// `a/./b/../c` → `a/c`, without touching the file system.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            c => out.push(c.as_os_str()),
        }
    }
    out
}

pub fn is_override(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let stem = name.trim_end_matches(".json").trim_end_matches(".tf");
    stem == "override" || stem.ends_with("_override")
}

/// The source of a module call when it is a local path.
pub fn local_source(b: &Block) -> Option<(String, Span)> {
    let a = b.body.attr("source")?;
    match &a.expr.kind {
        ExprKind::Str(s)
            if s.starts_with("./") || s.starts_with("../") || s == "." || s == ".." =>
        {
            Some((s.clone(), a.expr.span))
        }
        _ => None,
    }
}

/// A variable's value and the resources its expression referenced (for links).
pub type VarValue = (Rc<Node>, Rc<Vec<String>>);

/// A module instance: one module with one set of inputs, at one address.
pub struct Inst {
    pub def: usize,
    /// Address prefix with instance keys: `module.a["k"].`
    pub addr: String,
    /// Address prefix without instance keys: `module.a.`
    pub target: String,
    pub call_chain: Vec<Span>,
    pub ancestors: Vec<usize>,
    /// Module names from the root (`modules.json` keys).
    pub key_path: Vec<String>,
    pub root_def: usize,
    pub vars: RefCell<HashMap<String, VarValue>>,
    pub locals: RefCell<HashMap<String, Lazy>>,
    pub outputs: RefCell<HashMap<String, Lazy>>,
    pub children: RefCell<HashMap<String, Child>>,
    pub version: Option<String>,
    pub path_module: String,
    /// A scope for constants (tfvars values) only: no resources are built from it.
    pub scratch: bool,
}

#[derive(Clone, Debug)]
pub enum Child {
    Busy,
    Unresolved(String),
    One(usize),
    Counted(Vec<usize>),
    Keyed(Vec<(String, usize)>),
    /// Expanded over an unknown count/for_each: one instance whose keys are unknown.
    Unknown,
}

impl Eval<'_> {
    /// Creates a root instance with variable values from tfvars and the command line.
    pub fn instantiate_root(&self, def: usize, values: HashMap<String, Node>) -> usize {
        let d = &self.defs[def];
        let version = d
            .lock_version
            .clone()
            .or_else(|| d.azurerm_min.clone())
            .or_else(|| self.input.assume_azurerm.clone());
        let inputs = values
            .into_iter()
            .map(|(k, v)| (k, (v, Vec::new())))
            .collect();
        self.new_inst(
            def,
            String::new(),
            String::new(),
            Vec::new(),
            Vec::new(),
            vec![],
            def,
            inputs,
            version,
            ".".into(),
        )
    }

    /// An instance with no variables, to evaluate constants (tfvars) in.
    pub fn blank_inst(&self, def: usize) -> usize {
        let mut insts = self.insts.borrow_mut();
        insts.push(std::rc::Rc::new(Inst {
            def,
            addr: String::new(),
            target: String::new(),
            call_chain: Vec::new(),
            ancestors: Vec::new(),
            key_path: Vec::new(),
            root_def: def,
            vars: RefCell::new(HashMap::new()),
            locals: RefCell::new(HashMap::new()),
            outputs: RefCell::new(HashMap::new()),
            children: RefCell::new(HashMap::new()),
            version: None,
            path_module: ".".into(),
            scratch: true,
        }));
        insts.len() - 1
    }

    #[allow(clippy::too_many_arguments)]
    fn new_inst(
        &self,
        def: usize,
        addr: String,
        target: String,
        call_chain: Vec<Span>,
        ancestors: Vec<usize>,
        key_path: Vec<String>,
        root_def: usize,
        mut inputs: HashMap<String, (Node, Vec<String>)>,
        version: Option<String>,
        path_module: String,
    ) -> usize {
        let id = {
            let mut insts = self.insts.borrow_mut();
            insts.push(std::rc::Rc::new(Inst {
                def,
                addr,
                target,
                call_chain,
                ancestors,
                key_path,
                root_def,
                vars: RefCell::new(HashMap::new()),
                locals: RefCell::new(HashMap::new()),
                outputs: RefCell::new(HashMap::new()),
                children: RefCell::new(HashMap::new()),
                version,
                path_module,
                scratch: false,
            }));
            insts.len() - 1
        };
        // variables: input, else default, converted to the declared type
        let mut vars = HashMap::new();
        let d = &self.defs[def];
        let mut scope = Scope::new(id);
        for v in &d.variables {
            let name = v.labels[0].clone();
            let ty = v
                .body
                .attr("type")
                .map(|t| types::parse_type(self, &t.expr, &mut scope))
                .unwrap_or(types::Ty::Any);
            let nullable = !matches!(
                v.body.attr("nullable").map(|a| &a.expr.kind),
                Some(ExprKind::Bool(false))
            );
            let default = v.body.attr("default").map(|a| {
                let n = self.eval_lenient(&a.expr, &mut scope);
                match types::convert(n.clone(), &ty) {
                    Ok(c) => c,
                    Err(e) => {
                        self.diag(Diagnostic::warning(
                            a.expr.span,
                            format!("default of variable '{name}' does not match its type: {e}"),
                        ));
                        n
                    }
                }
            });
            let value = match inputs.remove(&name) {
                Some((n, refs))
                    if !(matches!(n.value, Value::Null) && !nullable && default.is_some()) =>
                {
                    let n = types::convert(n.clone(), &ty).unwrap_or(n);
                    (n, refs)
                }
                _ => match default {
                    Some(d) => (d, Vec::new()),
                    None => (
                        unknown(format!("variable '{name}' is not set"), v.header),
                        Vec::new(),
                    ),
                },
            };
            vars.insert(name, (Rc::new(value.0), Rc::new(value.1)));
        }
        *self.inst(id).vars.borrow_mut() = vars;
        id
    }

    /// The instances of module call `name` inside instance `id`, created on first use.
    pub fn child(&self, id: usize, name: &str) -> Child {
        let inst = self.inst(id);
        if let Some(c) = inst.children.borrow().get(name) {
            return c.clone();
        }
        inst.children
            .borrow_mut()
            .insert(name.to_string(), Child::Busy);
        let c = self.resolve_child(id, name);
        inst.children
            .borrow_mut()
            .insert(name.to_string(), c.clone());
        c
    }

    fn resolve_child(&self, id: usize, name: &str) -> Child {
        let inst = self.inst(id);
        let d = &self.defs[inst.def];
        let Some(&ci) = d.call_index.get(name) else {
            return Child::Unresolved(format!("module '{name}' is not declared"));
        };
        let call = &d.calls[ci];
        let src = call.body.attr("source");
        let src_text = match src.map(|a| &a.expr.kind) {
            Some(ExprKind::Str(s)) => s.clone(),
            _ => String::new(),
        };
        let span = src.map(|a| a.expr.span).unwrap_or(call.header);
        let mut key_path = inst.key_path.clone();
        key_path.push(name.to_string());
        let target_def = if let Some((rel, _)) = local_source(call) {
            let dir = normalize(&d.dir.join(rel));
            self.def_by_dir(&dir)
        } else {
            let root = &self.defs[inst.root_def];
            root.fetched
                .get(&key_path.join("."))
                .and_then(|dir| self.def_by_dir(dir))
        };
        let Some(target_def) = target_def else {
            let kind = source_kind(&src_text, local_source(call).is_some());
            let msg = match kind {
                "local source" => format!(
                    "module {name}: local source '{src_text}' has no Terraform files among those scanned (if it lies outside the scanned folder, scan the folder that contains both); its resources are not scanned"
                ),
                "" => format!(
                    "module {name}: source is not a literal string; its resources are not scanned"
                ),
                _ => format!(
                    "module {name} from {kind} '{src_text}' not fetched; its resources are not scanned"
                ),
            };
            self.diag(Diagnostic::warning(span, msg));
            return Child::Unresolved(format!("output of module {name} ({kind} not fetched)"));
        };
        if inst.ancestors.contains(&target_def) || target_def == inst.def {
            self.diag(Diagnostic::warning(
                span,
                format!("module {name} calls a module that is already being instantiated (a module cycle): not followed"),
            ));
            return Child::Unresolved(format!("module {name} is part of a cycle"));
        }
        if inst.ancestors.len() >= MAX_MODULE_DEPTH {
            self.diag(Diagnostic::warning(
                span,
                format!(
                    "module nesting deeper than {MAX_MODULE_DEPTH}: module {name} not followed"
                ),
            ));
            return Child::Unresolved(format!("module {name} nested too deeply"));
        }
        let mut scope = Scope::new(id);
        let target = format!("{}module.{name}.", inst.target);
        let mut chain = inst.call_chain.clone();
        chain.push(call.header);
        let mut ancestors = inst.ancestors.clone();
        ancestors.push(inst.def);
        let version = super::version::max_version(
            inst.version.clone(),
            self.defs[target_def].azurerm_min.clone(),
        );
        let path_module = relative_path(&self.defs[inst.root_def].dir, &self.defs[target_def].dir);
        let full = || {
            let full = self.insts.borrow().len() >= MAX_INSTANCES_TOTAL;
            if full {
                self.diag(Diagnostic::warning(
                    call.header,
                    format!("more than {MAX_INSTANCES_TOTAL} module instances: the rest are not evaluated"),
                ));
            }
            full
        };
        if full() {
            return Child::Unresolved(format!("module {name} not evaluated (instance cap)"));
        }
        let make = |key: Option<(String, super::expand::Key)>, scope: &mut Scope| -> usize {
            let addr = match &key {
                Some((_, k)) => format!("{}module.{name}{}.", inst.addr, k.suffix()),
                None => format!("{}module.{name}.", inst.addr),
            };
            let mut inputs = HashMap::new();
            for a in &call.body.attrs {
                if matches!(
                    a.name.as_str(),
                    "source" | "version" | "count" | "for_each" | "providers" | "depends_on"
                ) {
                    continue;
                }
                let (r, refs) = self.eval_recorded(&a.expr, scope);
                let n = r.unwrap_or_else(|e| self.failed(&e, a.expr.span));
                inputs.insert(a.name.clone(), (n, refs));
            }
            self.new_inst(
                target_def,
                addr,
                target.clone(),
                chain.clone(),
                ancestors.clone(),
                key_path.clone(),
                inst.root_def,
                inputs,
                version.clone(),
                path_module.clone(),
            )
        };
        match self.expansion(
            &call.body,
            &mut scope,
            call.header,
            &format!("module.{name}"),
        ) {
            super::expand::Expansion::Single => Child::One(make(None, &mut scope)),
            super::expand::Expansion::Unknown(reason) => {
                let mut s = scope.clone();
                s.each = Some((
                    unknown(reason.clone(), call.header),
                    unknown(reason.clone(), call.header),
                ));
                s.count = Some(unknown(reason, call.header));
                let k = super::expand::Key::Unknown;
                make(Some(("*".into(), k)), &mut s);
                Child::Unknown
            }
            super::expand::Expansion::Counted(n) => {
                let mut out = Vec::new();
                for i in 0..n {
                    if full() {
                        break;
                    }
                    let mut s = scope.clone();
                    s.count = Some(Node::new(Value::Int(i as i64), call.header));
                    out.push(make(
                        Some((i.to_string(), super::expand::Key::Index(i))),
                        &mut s,
                    ));
                }
                Child::Counted(out)
            }
            super::expand::Expansion::Keyed(items, of) => {
                let mut out = Vec::new();
                for (k, v) in items {
                    if full() {
                        break;
                    }
                    let mut s = scope.clone();
                    s.each = Some((Node::new(Value::String(Str::from(k.as_str())), v.span), v));
                    s.each_of = of.clone();
                    let k = k.to_string();
                    out.push((
                        k.clone(),
                        make(Some((k.clone(), super::expand::Key::Str(k))), &mut s),
                    ));
                }
                Child::Keyed(out)
            }
        }
    }

    pub fn def_by_dir(&self, dir: &Path) -> Option<usize> {
        self.by_dir.get(dir).copied()
    }

    /// `azurerm_x.y[*].name`, `length(azurerm_x.y)`, `keys(azurerm_x.y)`: a counted resource
    /// is a list of its instances, a `for_each` one a map of them. Their number and keys are
    /// known when the expansion is; each instance is known only through its arguments.
    #[allow(clippy::too_many_arguments)]
    fn all_instances(
        &self,
        ty: &str,
        name: &str,
        block: &Block,
        ops: &[Op],
        scope: &mut Scope,
        span: Span,
        data: bool,
    ) -> R {
        let what = format!("{}{ty}.{name}", if data { "data." } else { "" });
        let exp = self.expansion(
            &block.body,
            &mut Scope::new(scope.inst),
            block.header,
            &what,
        );
        let keys: Vec<Expr> = match &exp {
            super::expand::Expansion::Counted(n) => (0..*n)
                .map(|i| Expr::new(ExprKind::Int(i as i64), span))
                .collect(),
            super::expand::Expansion::Keyed(items, _) => items
                .iter()
                .map(|(k, _)| Expr::new(ExprKind::Str(k.to_string()), span))
                .collect(),
            _ => {
                self.eval_indexes(ops, scope);
                return Ok(unknown(format!("instances of {what} are unknown"), span));
            }
        };
        let one = |k: &Expr, per: &[Op], scope: &mut Scope| -> Node {
            if per.is_empty() {
                return unknown(format!("instance of {what}"), span);
            }
            let mut v = vec![Op::Index(k.clone())];
            v.extend_from_slice(per);
            self.block_ref(ty, name, &v, scope, span, data)
                .unwrap_or_else(|e| unknown(format!("could not evaluate: {e}"), span))
        };
        match (ops.first(), &exp) {
            (Some(Op::Splat { full }), super::expand::Expansion::Counted(_)) => {
                let rest = &ops[1..];
                let n = if *full {
                    rest.len()
                } else {
                    rest.iter().take_while(|o| matches!(o, Op::Attr(_))).count()
                };
                let items = keys.iter().map(|k| one(k, &rest[..n], scope)).collect();
                self.apply_ops(Node::new(Value::Array(items), span), &rest[n..], scope)
            }
            (_, super::expand::Expansion::Counted(_)) => {
                let items = keys.iter().map(|k| one(k, &[], scope)).collect();
                self.apply_ops(Node::new(Value::Array(items), span), ops, scope)
            }
            _ => {
                let items = keys
                    .iter()
                    .map(|k| {
                        let key = match &k.kind {
                            ExprKind::Str(s) => Str::from(s.as_str()),
                            _ => Str::default(),
                        };
                        (key, one(k, &[], scope))
                    })
                    .collect();
                self.apply_ops(Node::new(Value::Object(items), span), ops, scope)
            }
        }
    }

    // ---- references ----

    /// Resolves a reference (`var.x`, `local.y`, `module.m.o`, `azurerm_x.y.name`, ...)
    /// followed by traversal operators.
    pub fn traversal(&self, root: &Expr, ops: &[Op], scope: &mut Scope) -> R {
        let ExprKind::Var(name) = &root.kind else {
            let v = self.eval(root, scope)?;
            return self.apply_ops(v, ops, scope);
        };
        if let Some((_, b)) = scope.bindings.iter().rev().find(|(n, _)| n == name) {
            let b = b.clone();
            return self.apply_ops(b, ops, scope);
        }
        let span = root.span;
        let first = match ops.first() {
            Some(Op::Attr(a)) => Some(a.as_str()),
            _ => None,
        };
        let rest = if ops.is_empty() { ops } else { &ops[1..] };
        match name.as_str() {
            "var" => {
                let Some(v) = first else {
                    return Err("'var' needs an attribute".into());
                };
                let inst = self.inst(scope.inst);
                let Some((n, refs)) = inst.vars.borrow().get(v).cloned() else {
                    return Err(format!("variable '{v}' is not declared"));
                };
                self.record(&refs);
                self.apply_ops_ref(&n, rest, scope)
            }
            "local" => {
                let Some(l) = first else {
                    return Err("'local' needs an attribute".into());
                };
                let n = self.local(scope.inst, l, span)?;
                self.apply_ops_ref(&n, rest, scope)
            }
            "module" => {
                let Some(m) = first else {
                    return Err("'module' needs a module name".into());
                };
                self.module_ref(m, rest, scope, span)
            }
            "data" => match (ops.first(), ops.get(1)) {
                (Some(Op::Attr(t)), Some(Op::Attr(n))) => {
                    let (t, n) = (t.clone(), n.clone());
                    self.block_ref(&t, &n, &ops[2..], scope, span, true)
                }
                _ => Err("'data' needs a type and a name".into()),
            },
            "each" => {
                let Some((k, v)) = scope.each.clone() else {
                    return Err("'each' used outside a for_each".into());
                };
                match first {
                    Some("key") => self.apply_ops(k, rest, scope),
                    Some("value") => match scope.each_of.clone() {
                        // the instance of the resource iterated: its configured arguments
                        Some((ty, res)) => {
                            let mut ops = vec![Op::Index(Expr::new(
                                ExprKind::Str(eval::to_string(&k).unwrap_or_default()),
                                span,
                            ))];
                            ops.extend_from_slice(rest);
                            self.block_ref(&ty, &res, &ops, scope, span, false)
                        }
                        None => self.apply_ops(v, rest, scope),
                    },
                    _ => Err("'each' has only key and value".into()),
                }
            }
            "count" => {
                let Some(c) = scope.count.clone() else {
                    return Err("'count' used outside a counted block".into());
                };
                match first {
                    Some("index") => self.apply_ops(c, rest, scope),
                    _ => Err("'count' has only index".into()),
                }
            }
            "path" => {
                let inst = self.inst(scope.inst);
                let v = match first {
                    Some("module") => inst.path_module.clone(),
                    Some("root") => ".".to_string(),
                    Some("cwd") => self.defs[inst.root_def].dir.to_string_lossy().into_owned(),
                    _ => return Err("'path' has only module, root and cwd".into()),
                };
                self.apply_ops(Node::new(Value::String(Str::from(v)), span), rest, scope)
            }
            "terraform" => Ok(unknown("terraform.workspace is chosen at run time", span)),
            "self" | "ephemeral" => Ok(unknown(format!("'{name}' is known only at apply"), span)),
            ty => match first {
                Some(res) => self.block_ref(ty, res, rest, scope, span, false),
                None => Err(format!("unknown name '{ty}'")),
            },
        }
    }

    /// Evaluates index expressions of operators we do not apply, for their references.
    fn eval_indexes(&self, ops: &[Op], scope: &mut Scope) {
        for op in ops {
            if let Op::Index(x) = op {
                let _ = self.eval(x, scope);
            }
        }
    }

    fn local(&self, id: usize, name: &str, span: Span) -> Result<Rc<Node>, String> {
        let inst = self.inst(id);
        match eval::lazy_get(&inst.locals, name) {
            Some(Lazy::Done(n, refs)) => {
                self.record(&refs);
                return Ok(n);
            }
            Some(Lazy::Busy) => {
                self.diag(Diagnostic::warning(
                    span,
                    format!("local.{name} refers to itself (a cycle): left unknown"),
                ));
                return Ok(Rc::new(unknown(
                    format!("local.{name} is part of a reference cycle"),
                    span,
                )));
            }
            None => {}
        }
        let Some(attr) = self.defs[inst.def].locals.get(name) else {
            return Err(format!("local value '{name}' is not declared"));
        };
        inst.locals
            .borrow_mut()
            .insert(name.to_string(), Lazy::Busy);
        let mut scope = Scope::new(id);
        let (r, refs) = self.eval_recorded(&attr.expr, &mut scope);
        let n = Rc::new(r.unwrap_or_else(|e| self.failed(&e, attr.expr.span)));
        let refs = Rc::new(refs);
        inst.locals
            .borrow_mut()
            .insert(name.to_string(), Lazy::Done(n.clone(), refs.clone()));
        self.record(&refs);
        Ok(n)
    }

    pub fn output(&self, id: usize, name: &str, span: Span) -> Result<Rc<Node>, String> {
        let inst = self.inst(id);
        match eval::lazy_get(&inst.outputs, name) {
            Some(Lazy::Done(n, refs)) => {
                self.record(&refs);
                return Ok(n);
            }
            Some(Lazy::Busy) => {
                return Ok(Rc::new(unknown(
                    format!("output {name} depends on itself"),
                    span,
                )))
            }
            None => {}
        }
        let Some(block) = self.defs[inst.def].outputs.get(name) else {
            return Err(format!("module has no output '{name}'"));
        };
        let Some(attr) = block.body.attr("value") else {
            return Ok(Rc::new(unknown(
                format!("output {name} has no value"),
                span,
            )));
        };
        inst.outputs
            .borrow_mut()
            .insert(name.to_string(), Lazy::Busy);
        let mut scope = Scope::new(id);
        let (r, refs) = self.eval_recorded(&attr.expr, &mut scope);
        let n = Rc::new(r.unwrap_or_else(|e| self.failed(&e, attr.expr.span)));
        let refs = Rc::new(refs);
        inst.outputs
            .borrow_mut()
            .insert(name.to_string(), Lazy::Done(n.clone(), refs.clone()));
        self.record(&refs);
        Ok(n)
    }

    /// All outputs of an instance as one object.
    fn outputs_object(&self, id: usize, span: Span) -> Node {
        let inst = self.inst(id);
        let mut names: Vec<&String> = self.defs[inst.def].outputs.keys().collect();
        names.sort();
        let mut out = Vec::new();
        for n in names {
            let v = self
                .output(id, n, span)
                .map(|v| (*v).clone())
                .unwrap_or_else(|e| unknown(e, span));
            out.push((Str::from(n.as_str()), v));
        }
        Node::new(Value::Object(out.into()), span)
    }

    fn module_ref(&self, name: &str, ops: &[Op], scope: &mut Scope, span: Span) -> R {
        let one = |id: usize, ops: &[Op], scope: &mut Scope| -> R {
            match ops.first() {
                Some(Op::Attr(o)) => {
                    let v = self.output(id, o, span)?;
                    self.apply_ops_ref(&v, &ops[1..], scope)
                }
                _ => {
                    let v = self.outputs_object(id, span);
                    self.apply_ops(v, ops, scope)
                }
            }
        };
        match self.child(scope.inst, name) {
            Child::Busy => Ok(unknown(
                format!("module.{name} refers back to its caller"),
                span,
            )),
            Child::Unresolved(r) => {
                self.eval_indexes(ops, scope);
                Ok(unknown(r, span))
            }
            Child::One(id) => one(id, ops, scope),
            Child::Unknown => {
                self.eval_indexes(ops, scope);
                Ok(unknown(
                    format!("module.{name} instances are unknown"),
                    span,
                ))
            }
            Child::Counted(ids) => match ops.first() {
                Some(Op::Index(x)) => {
                    let k = self.eval(x, scope)?;
                    match eval::as_f64(&k.value) {
                        Some(i) if i >= 0.0 && (i as usize) < ids.len() => {
                            one(ids[i as usize], &ops[1..], scope)
                        }
                        Some(i) => Err(format!("module.{name}[{i}] does not exist")),
                        None if k.is_unknown() => Ok(unknown(eval::unknown_reason(&k), span)),
                        None => Err("module index must be a number".into()),
                    }
                }
                _ => {
                    let all = ids.iter().map(|&i| self.outputs_object(i, span)).collect();
                    self.apply_ops(Node::new(Value::Array(all), span), ops, scope)
                }
            },
            Child::Keyed(items) => match ops.first() {
                Some(Op::Index(x)) => {
                    let k = self.eval(x, scope)?;
                    if k.is_unknown() {
                        return Ok(unknown(eval::unknown_reason(&k), span));
                    }
                    let key = eval::to_string(&k)
                        .map_err(|_| "module key must be a string".to_string())?;
                    match items.iter().find(|(x, _)| *x == key) {
                        Some((_, id)) => one(*id, &ops[1..], scope),
                        None => Err(format!("module.{name}[\"{key}\"] does not exist")),
                    }
                }
                _ => {
                    let all = items
                        .iter()
                        .map(|(k, i)| (Str::from(k.as_str()), self.outputs_object(*i, span)))
                        .collect();
                    self.apply_ops(Node::new(Value::Object(all), span), ops, scope)
                }
            },
        }
    }

    /// A reference to a resource or (with `data`) a data source: the arguments its block
    /// sets are known as configured; everything else is computed, so unknown.
    fn block_ref(
        &self,
        ty: &str,
        name: &str,
        ops: &[Op],
        scope: &mut Scope,
        span: Span,
        data: bool,
    ) -> R {
        let inst = self.inst(scope.inst);
        let def = &self.defs[inst.def];
        let block = if data {
            def.data.get(&format!("{ty}.{name}"))
        } else {
            // data sources are not resources: only resource references become links
            self.record(&[format!("{}{ty}.{name}", inst.target)]);
            def.resource(ty, name)
        };
        let Some(block) = block else {
            let what = if data { "data source" } else { "resource" };
            return Err(format!("reference to undeclared {what} {ty}.{name}"));
        };
        let raw_ty = ty;
        let ty = &if data {
            format!("data.{ty}")
        } else {
            ty.to_string()
        };
        let after = if data {
            "is read during plan"
        } else {
            "is known only after apply"
        };
        let mut rest = ops;
        let mut rscope = Scope::new(scope.inst);
        let counted = block.body.attr("count").is_some();
        let each = block.body.attr("for_each");
        if counted || each.is_some() {
            match rest.first() {
                Some(Op::Index(x)) => {
                    let k = self.eval(x, scope)?;
                    if k.is_unknown() {
                        self.eval_indexes(&rest[1..], scope);
                        return Ok(unknown(
                            format!("{ty}.{name}[...]: instance key unknown"),
                            span,
                        ));
                    }
                    if counted {
                        rscope.count = Some(k);
                    } else if let Some(fe) = each {
                        let coll = self.eval_lenient(&fe.expr, &mut Scope::new(scope.inst));
                        let key = eval::to_string(&k)
                            .map_err(|_| "instance key must be a string".to_string())?;
                        let v = match &coll.value {
                            Value::Object(o) => {
                                o.iter().find(|(x, _)| *x == key).map(|(_, v)| v.clone())
                            }
                            Value::Array(a) => a
                                .iter()
                                .find(|x| eval::to_string(x).ok().as_deref() == Some(key.as_str()))
                                .cloned(),
                            _ => Some(unknown(eval::unknown_reason(&coll), span)),
                        };
                        let v =
                            v.ok_or_else(|| format!("{ty}.{name}[\"{key}\"] does not exist"))?;
                        rscope.each = Some((Node::new(Value::String(Str::from(key)), k.span), v));
                    }
                    rest = &rest[1..];
                }
                _ => return self.all_instances(raw_ty, name, block, rest, scope, span, data),
            }
        }
        match rest.first() {
            Some(Op::Attr(a))
                if !matches!(
                    a.as_str(),
                    "count" | "for_each" | "depends_on" | "provider" | "lifecycle"
                ) =>
            {
                if let Some(attr) = block.body.attr(a) {
                    let key = format!(
                        "{}|{ty}.{name}|{}|{}|{a}",
                        scope.inst,
                        rscope
                            .count
                            .as_ref()
                            .map(|c| c.value.to_string())
                            .unwrap_or_default(),
                        rscope
                            .each
                            .as_ref()
                            .map(|e| e.0.value.to_string())
                            .unwrap_or_default(),
                    );
                    let cached = self.attr_cache.borrow().get(&key).cloned();
                    let v = match cached {
                        Some(v) => v,
                        None if self.attr_busy.borrow().contains(&key) => {
                            return Ok(unknown(
                                format!("{}{ty}.{name}.{a} refers back to itself", inst.target),
                                span,
                            ));
                        }
                        None => {
                            self.attr_busy.borrow_mut().insert(key.clone());
                            // the referenced resource's own references are not this one's
                            self.push_frame();
                            let v = self.eval(&attr.expr, &mut rscope);
                            self.pop_frame();
                            let v = Rc::new(v.unwrap_or_else(|e| {
                                unknown(format!("could not evaluate: {e}"), attr.expr.span)
                            }));
                            self.attr_busy.borrow_mut().remove(&key);
                            self.attr_cache.borrow_mut().insert(key, v.clone());
                            v
                        }
                    };
                    return self.apply_ops_ref(&v, &rest[1..], scope);
                }
                self.eval_indexes(rest, scope);
                Ok(unknown(
                    format!("{}{ty}.{name}.{a} {after}", inst.target),
                    span,
                ))
            }
            _ => {
                self.eval_indexes(rest, scope);
                Ok(unknown(format!("{}{ty}.{name} {after}", inst.target), span))
            }
        }
    }
}

/// What kind of module source a string is, for messages ("" when there is none).
fn source_kind(src: &str, local: bool) -> &'static str {
    if local {
        return "local source";
    }
    if src.is_empty() {
        return "";
    }
    // registry addresses are [host/]namespace/name/provider, nothing else
    let parts: Vec<&str> = src.split('/').collect();
    let registry = !src.contains("::")
        && !src.contains("://")
        && (parts.len() == 3 || (parts.len() == 4 && parts[0].contains('.')))
        && parts.iter().all(|p| !p.is_empty() && !p.contains('?'))
        && !parts[0].ends_with(".com")
        && !parts[0].ends_with(".org");
    if registry {
        "registry source"
    } else if src.starts_with("git")
        || src.contains("git::")
        || src.contains(".git")
        || src.starts_with("github.com")
        || src.starts_with("bitbucket.org")
    {
        "git source"
    } else {
        "remote source"
    }
}

/// `to` relative to `from`, with `/` separators (`path.module` as Terraform prints it).
pub fn relative_path(from: &Path, to: &Path) -> String {
    let f: Vec<_> = from.components().collect();
    let t: Vec<_> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = Vec::new();
    for _ in common..f.len() {
        parts.push("..".into());
    }
    for c in &t[common..] {
        parts.push(c.as_os_str().to_string_lossy().into_owned());
    }
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// Module definitions, and their positions by directory (one definition per directory).
/// Every module call of every configuration looks its target up there: compared one by one,
/// the directories were 3 % of a Terraform scan's instructions (62,513 path comparisons on
/// the Terraform set).
pub struct Defs {
    pub list: Vec<ModuleDef>,
    pub by_dir: HashMap<PathBuf, usize>,
}

/// Loads modules: the scanned directories, then every local module directory they lead to
/// (outside the scan too), then directories listed in `.terraform/modules/modules.json`.
pub fn load(input: &super::Input, diags: &mut Vec<Diagnostic>, repo_root: Option<&Path>) -> Defs {
    let mut by_dir: BTreeMap<PathBuf, Vec<FileId>> = BTreeMap::new();
    for &f in &input.files {
        let file = input.sources.get(f);
        let name = file.path.to_string_lossy();
        if name.ends_with(".tf") || name.ends_with(".tf.json") {
            let dir = normalize(file.path.parent().unwrap_or(Path::new("")));
            by_dir.entry(dir).or_default().push(f);
        }
    }
    let mut watch = crate::timings::Stopwatch::start();
    // parse the scanned files in parallel; module directories outside the scan are few
    let mut parsed: HashMap<FileId, (Body, Vec<Diagnostic>)> = {
        use rayon::prelude::*;
        let ids: Vec<FileId> = by_dir.values().flatten().copied().collect();
        ids.par_iter()
            .map(|&f| {
                let file = input.sources.get(f);
                (f, super::parse_file(f, &file.path, &file.text))
            })
            .collect()
    };
    watch.lap("   tf parse");
    let mut defs: Vec<ModuleDef> = Vec::new();
    let mut index: HashMap<PathBuf, usize> = HashMap::new();
    for (dir, files) in by_dir {
        let mut d = build_def(input, dir, &files, diags, &mut parsed);
        d.in_scan = true;
        index.insert(d.dir.clone(), defs.len());
        defs.push(d);
    }
    watch.lap("   tf defs");
    // follow local sources and fetched-module directories
    let mut i = 0;
    while i < defs.len() {
        let mut targets: Vec<(PathBuf, Span)> = Vec::new();
        for c in &defs[i].calls {
            if let Some((rel, span)) = local_source(c) {
                targets.push((normalize(&defs[i].dir.join(rel)), span));
            }
        }
        if defs[i].in_scan {
            let mj = defs[i].dir.join(".terraform/modules/modules.json");
            if let Ok(text) = std::fs::read_to_string(&mj) {
                let fetched = read_modules_json(&defs[i].dir, &text);
                for dir in fetched.values() {
                    targets.push((
                        dir.clone(),
                        Span::file_start(defs[i].files.first().copied().unwrap_or_default()),
                    ));
                }
                defs[i].fetched = fetched;
            }
        }
        let caller_dir = defs[i].dir.clone();
        for (dir, span) in targets {
            if let Some(&j) = index.get(&dir) {
                if dir != caller_dir {
                    defs[j].called = true;
                }
                continue;
            }
            if defs.len() >= MAX_MODULES {
                diags.push(Diagnostic::warning(
                    span,
                    "too many module directories: module not loaded",
                ));
                continue;
            }
            // warn where a reference first leaves the repository, not for every module
            // the escaped module calls in turn
            let inside = |p: &Path| {
                repo_root.is_none_or(|repo| {
                    std::path::absolute(p).is_ok_and(|a| normalize(&a).starts_with(repo))
                })
            };
            if !is_fetched_dir(&dir) && inside(&caller_dir) && !inside(&dir) {
                diags.push(Diagnostic::warning(
                    span,
                    format!(
                        "module source leads outside the repository ({})",
                        dir.display()
                    ),
                ));
            }
            let files = read_dir_files(input, &dir);
            if files.is_empty() {
                continue;
            }
            let mut d = build_def(input, dir, &files, diags, &mut parsed);
            d.called = true;
            index.insert(d.dir.clone(), defs.len());
            defs.push(d);
        }
        i += 1;
    }
    watch.lap("   tf follow");
    // the root module's lock file
    for d in defs.iter_mut().filter(|d| d.in_scan) {
        if let Ok(text) = std::fs::read_to_string(d.dir.join(".terraform.lock.hcl")) {
            d.lock_version = super::version::lock_version(&text);
        }
    }
    Defs {
        list: defs,
        by_dir: index,
    }
}

fn is_fetched_dir(p: &Path) -> bool {
    p.components().any(|c| c.as_os_str() == ".terraform")
}

fn read_modules_json(dir: &Path, text: &str) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return out;
    };
    if let Some(mods) = v.get("Modules").and_then(|m| m.as_array()) {
        for m in mods {
            let (Some(k), Some(d)) = (
                m.get("Key").and_then(|x| x.as_str()),
                m.get("Dir").and_then(|x| x.as_str()),
            ) else {
                continue;
            };
            if k.is_empty() {
                continue;
            }
            out.insert(k.to_string(), normalize(&dir.join(d)));
        }
    }
    out
}

/// The `.tf`/`.tf.json` files of a directory outside the discovered set, added to the
/// source map.
fn read_dir_files(input: &super::Input, dir: &Path) -> Vec<FileId> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let n = p.to_string_lossy();
            p.is_file() && (n.ends_with(".tf") || n.ends_with(".tf.json"))
        })
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        if let Some(id) = input.sources.find_by_path(&p) {
            out.push(id);
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        let rel = match p.strip_prefix(input.root) {
            Ok(r) => r.to_string_lossy().replace('\\', "/"),
            Err(_) => p.to_string_lossy().replace('\\', "/"),
        };
        out.push(input.sources.add(p, rel, text));
    }
    out
}

fn build_def(
    input: &super::Input,
    dir: PathBuf,
    files: &[FileId],
    diags: &mut Vec<Diagnostic>,
    parsed: &mut HashMap<FileId, (Body, Vec<Diagnostic>)>,
) -> ModuleDef {
    let mut d = ModuleDef {
        dir,
        files: files.to_vec(),
        ..ModuleDef::default()
    };
    let mut overrides = Vec::new();
    let mut sorted: Vec<FileId> = files.to_vec();
    sorted.sort_by_key(|f| input.sources.get(*f).path.clone());
    for f in sorted {
        let file = input.sources.get(f);
        let (body, mut ds) = parsed
            .remove(&f)
            .unwrap_or_else(|| super::parse_file(f, &file.path, &file.text));
        diags.append(&mut ds);
        if is_override(&file.path) {
            overrides.push(body);
        } else {
            d.add_body(body, false);
        }
    }
    for b in overrides {
        d.add_body(b, true);
    }
    d
}
