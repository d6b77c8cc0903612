//! The pure ARM template function library (evaluate stage).
//!
//! Every function of Microsoft's "ARM template functions" reference that can be computed
//! without a deployment is computed here; the ones that need a deployment return
//! `Value::Unknown`. Names are case-insensitive. The interpreter ([`crate::eval::interp`])
//! handles the lazy ones (`if`, `and`, `or`, `coalesce`) and the lambda functions itself; the
//! eager versions here exist for callers that already hold evaluated values.
//!
//! Unknown propagation: unless a function is marked "keeps unknowns" below, an argument that
//! is `Unknown` makes the result `Unknown` (first reason kept). Functions that must look
//! inside arrays/objects (equality, serialisation, …) also return `Unknown` when a nested
//! value they need is unknown; functions that only move elements around (`concat`, `union`,
//! `take`, `createArray`, …) keep unknown elements as elements.
//!
//! | function | family | notes |
//! |---|---|---|
//! | `array` | array | scalar → one-element array |
//! | `concat` | array, string | arrays: unknown elements kept; strings: ints/bools stringified, null is "" |
//! | `contains` | array, object, string | string: case-sensitive; object key: case-insensitive; array: true if a known element equals, else unknown if any element is unknown (keeps unknowns) |
//! | `createArray` | array | keeps unknowns as elements |
//! | `createObject` | object | keys replace case-insensitively; unknown values kept |
//! | `empty` | array, object, string | null is empty; length known even with unknown elements |
//! | `first`, `last` | array, string | empty array → null, empty string → "" |
//! | `flatten` | array | one level |
//! | `indexOf`, `lastIndexOf` | array, string | string: case-insensitive (per docs), char index; array: deep equality, case-sensitive |
//! | `intersection` | array, object | object keys case-insensitive |
//! | `items` | object | sorted by key (the docs: "items sorts the objects in alphabetical order") |
//! | `length` | array, object, string | string length in Unicode scalar values |
//! | `max`, `min` | array, numeric | ints (or floats) as arguments or one array |
//! | `range` | array | count ≤ 10000, start + count ≤ 2147483647 (documented limits) |
//! | `skip`, `take` | array, string | count clamped to [0, length] |
//! | `union` | array, object | arrays: distinct items in order; objects: deep merge, later wins, arrays not merged |
//! | `tryIndexFromEnd` | array | 1-based from the end; out of range → null |
//! | `filter`, `map`, `mapValues`, `reduce`, `sort`, `toObject`, `groupBy` | lambda | in the interpreter (lazy bodies); `filter`/`map` lambdas may take an index, `reduce` too |
//! | `lambda`, `lambdaVariables` | lambda | in the interpreter; an unbound `lambdaVariables` is an error |
//! | `coalesce` | comparison | first non-null; unknown before it → unknown (lazy in the interpreter) |
//! | `equals` | comparison | deep; strings case-sensitive (Bicep lowers `=~` to `equals(toLower(a), toLower(b))`) |
//! | `greater`, `greaterOrEquals`, `less`, `lessOrEquals` | comparison | numbers, or strings compared culture-style: case-insensitive first, then lower < upper (the docs: `greater('A', 'a')` is true) |
//! | `dateTimeAdd` | date | ISO-8601 duration; output ISO-8601 UTC (compact if the input was compact) or a .NET custom format |
//! | `dateTimeFromEpoch`, `dateTimeToEpoch` | date | UTC, seconds |
//! | `utcNow` | date | deployment-time: Unknown |
//! | `and`, `or` | logical | a deciding value wins over unknowns (lazy in the interpreter) |
//! | `bool` | logical | bool, 'true'/'false' (any case), int (0 is false) |
//! | `if` | logical | unknown condition: known only when both branches are equal (lazy in the interpreter) |
//! | `not`, `true`, `false` | logical | |
//! | `add`, `sub`, `mul`, `div`, `mod` | numeric | checked i64 (overflow and division by zero are errors); floats if an argument is a float |
//! | `int`, `float` | numeric | from numbers and numeric strings |
//! | `json` | object | parse; `'null'` → null |
//! | `null` | object | |
//! | `objectKeys` | object | written order |
//! | `shallowMerge` | object | array of objects, top-level keys, later wins |
//! | `tryGet` | object | `tryGet(x, key1, key2…)`: null when any step is missing |
//! | `base64`, `base64ToString`, `base64ToJson` | string | UTF-8 |
//! | `dataUri`, `dataUriToString` | string | `data:text/plain;charset=utf8;base64,…` |
//! | `endsWith`, `startsWith` | string | case-insensitive (per docs) |
//! | `format` | string | .NET composite format: `{0}`, `{0,5}`, `{0:D2}`/`X`/`N2`/`F2`/`000`, `{{`/`}}`; bools print `True`/`False` |
//! | `guid` | string | deterministic name-based UUID (SHA-256 of the arguments joined by `-`), NOT Azure's value |
//! | `join` | string | scalars stringified |
//! | `padLeft` | string | length capped at 1,000,000 |
//! | `replace` | string | ordinal, case-sensitive |
//! | `split` | string | delimiter string or array of delimiters |
//! | `string` | string | arrays/objects → compact JSON; bools `True`/`False`; null → "" |
//! | `substring` | string | char indexes; out of range is an error |
//! | `toLower`, `toUpper`, `trim` | string | |
//! | `uniqueString` | string | deterministic 13-char base32 hash (SHA-256 of the arguments joined by `-`), NOT Azure's value |
//! | `uri` | string | combination rules of the docs (trailing slash of the base) |
//! | `uriComponent`, `uriComponentToString` | string | RFC 3986 unreserved set kept |
//! | `parseCidr`, `cidrSubnet`, `cidrHost` | cidr | IPv4 and IPv6; `cidrHost(n, 0)` is the first usable address |
//! | `any` | any | identity |
//! | `resourceId`, `subscriptionResourceId`, `tenantResourceId`, `extensionResourceId`, `managementGroupResourceId` | resource | pure: see [`resource_id`]; omitted or unknown subscription / resource group / management group → `{subscriptionId}` / `{resourceGroupName}` / `{managementGroupName}` placeholders |
//! | `reference`, `references`, `list*` (`listKeys`, …), `newGuid`, `deployment`, `environment`, `resourceGroup`, `subscription`, `tenant`, `managementGroup`, `pickZones`, `providers`, `getSecret`, `deployer`, `externalInput` | deployment | deployment-time: Unknown |
//! | `parameters`, `variables`, `copyIndex` | deployment | context: the scope's job; Unknown when it does not answer |

use crate::eval::interp::EvalError;
use crate::model::{Node, Seq, Str, Unknown, Value};
use crate::source::Span;
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
use std::fmt::Write as _;

/// Calls a library function by name (any case). None when there is no such function.
pub fn call(name: &str, args: Vec<Value>, at: u32) -> Option<Result<Value, EvalError>> {
    let lower = LowerName::new(name);
    call_lowercase(lower.as_str(), name, args, at)
}

/// A function name lower-cased without a heap allocation for the usual short names: this
/// runs for every call in every expression of a scan.
pub struct LowerName {
    buf: [u8; 32],
    len: usize,
    heap: Option<String>,
}

impl LowerName {
    pub fn new(name: &str) -> LowerName {
        let mut buf = [0u8; 32];
        if name.len() <= buf.len() {
            buf[..name.len()].copy_from_slice(name.as_bytes());
            buf[..name.len()].make_ascii_lowercase();
            LowerName {
                buf,
                len: name.len(),
                heap: None,
            }
        } else {
            LowerName {
                buf,
                len: 0,
                heap: Some(name.to_ascii_lowercase()),
            }
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.heap {
            Some(s) => s,
            // ASCII lower-casing keeps UTF-8 valid, so this never falls back.
            None => std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default(),
        }
    }
}

/// [`call`] with the name already lower-cased (`lname`); `name` as written is for messages.
/// `at` is the offset reported in errors.
pub fn call_lowercase(
    lname: &str,
    name: &str,
    args: Vec<Value>,
    at: u32,
) -> Option<Result<Value, EvalError>> {
    let c = Ctx { name, at };
    if let Some(r) = context_function(c, lname, &args) {
        return Some(r);
    }
    const N: usize = usize::MAX;
    // (implementation, min args, max args, keeps unknowns)
    let (f, min, max, keeps): (Fun, usize, usize, bool) = match lname {
        // array
        "array" => (f_array, 1, 1, false),
        "concat" => (f_concat, 1, N, false),
        "contains" => (f_contains, 2, 2, true),
        "createarray" => (f_create_array, 0, N, true),
        "empty" => (f_empty, 1, 1, false),
        "first" => (f_first, 1, 1, false),
        "last" => (f_last, 1, 1, false),
        "flatten" => (f_flatten, 1, 1, false),
        "indexof" => (f_index_of, 2, 2, false),
        "lastindexof" => (f_last_index_of, 2, 2, false),
        "intersection" => (f_intersection, 2, N, false),
        "items" => (f_items, 1, 1, false),
        "length" => (f_length, 1, 1, false),
        "max" => (f_max, 1, N, false),
        "min" => (f_min, 1, N, false),
        "range" => (f_range, 2, 2, false),
        "skip" => (f_skip, 2, 2, false),
        "take" => (f_take, 2, 2, false),
        "union" => (f_union, 1, N, false),
        "tryindexfromend" => (f_try_index_from_end, 2, 2, false),
        // object
        "createobject" => (f_create_object, 0, N, true),
        "json" => (f_json, 1, 1, false),
        "null" => (f_null, 0, 0, false),
        "objectkeys" => (f_object_keys, 1, 1, false),
        "shallowmerge" => (f_shallow_merge, 1, 1, false),
        "tryget" => (f_try_get, 2, N, false),
        // comparison
        "coalesce" => (f_coalesce, 1, N, true),
        "equals" => (f_equals, 2, 2, true),
        "greater" => (f_greater, 2, 2, false),
        "greaterorequals" => (f_greater_or_equals, 2, 2, false),
        "less" => (f_less, 2, 2, false),
        "lessorequals" => (f_less_or_equals, 2, 2, false),
        // logical
        "and" => (f_and, 2, N, true),
        "or" => (f_or, 2, N, true),
        "if" => (f_if, 3, 3, true),
        "bool" => (f_bool, 1, 1, false),
        "not" => (f_not, 1, 1, false),
        "true" => (f_true, 0, 0, false),
        "false" => (f_false, 0, 0, false),
        // numeric
        "add" => (f_add, 2, 2, false),
        "sub" => (f_sub, 2, 2, false),
        "mul" => (f_mul, 2, 2, false),
        "div" => (f_div, 2, 2, false),
        "mod" => (f_mod, 2, 2, false),
        "int" => (f_int, 1, 1, false),
        "float" => (f_float, 1, 1, false),
        // string
        "base64" => (f_base64, 1, 1, false),
        "base64tostring" => (f_base64_to_string, 1, 1, false),
        "base64tojson" => (f_base64_to_json, 1, 1, false),
        "datauri" => (f_data_uri, 1, 1, false),
        "datauritostring" => (f_data_uri_to_string, 1, 1, false),
        "endswith" => (f_ends_with, 2, 2, false),
        "startswith" => (f_starts_with, 2, 2, false),
        "format" => (f_format, 1, N, false),
        "guid" => (f_guid, 1, N, false),
        "join" => (f_join, 2, 2, false),
        "padleft" => (f_pad_left, 2, 3, false),
        "replace" => (f_replace, 3, 3, false),
        "split" => (f_split, 2, 2, false),
        "string" => (f_string, 1, 1, false),
        "substring" => (f_substring, 2, 3, false),
        "tolower" => (f_to_lower, 1, 1, false),
        "toupper" => (f_to_upper, 1, 1, false),
        "trim" => (f_trim, 1, 1, false),
        "uniquestring" => (f_unique_string, 1, N, false),
        "uri" => (f_uri, 2, 2, false),
        "uricomponent" => (f_uri_component, 1, 1, false),
        "uricomponenttostring" => (f_uri_component_to_string, 1, 1, false),
        // date
        "datetimeadd" => (f_date_time_add, 2, 3, false),
        "datetimefromepoch" => (f_date_time_from_epoch, 1, 1, false),
        "datetimetoepoch" => (f_date_time_to_epoch, 1, 1, false),
        // cidr
        "parsecidr" => (f_parse_cidr, 1, 1, false),
        "cidrsubnet" => (f_cidr_subnet, 3, 3, false),
        "cidrhost" => (f_cidr_host, 2, 2, false),
        // any
        "any" => (f_any, 1, 1, true),
        // resource
        "resourceid" => (f_resource_id, 2, N, true),
        "subscriptionresourceid" => (f_subscription_resource_id, 2, N, true),
        "tenantresourceid" => (f_tenant_resource_id, 2, N, true),
        "extensionresourceid" => (f_extension_resource_id, 3, N, true),
        "managementgroupresourceid" => (f_management_group_resource_id, 2, N, true),
        _ => return None,
    };
    if args.len() < min || args.len() > max {
        let expected = if min == max {
            min.to_string()
        } else if max == N {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return Some(Err(c.arity(&expected, args.len())));
    }
    if !keeps {
        if let Some(u) = args.iter().find_map(as_unknown) {
            return Some(Ok(Value::Unknown(u.clone())));
        }
    }
    Some(f(c, args))
}

type Fun = fn(Ctx<'_>, Vec<Value>) -> Result<Value, EvalError>;
type R = Result<Value, EvalError>;

/// The function being called, for error messages.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    name: &'a str,
    at: u32,
}

impl Ctx<'_> {
    fn arity(&self, expected: &str, found: usize) -> EvalError {
        EvalError::Arity {
            function: self.name.to_string(),
            expected: expected.to_string(),
            found,
            offset: self.at,
        }
    }

    fn ty(&self, message: impl Into<String>) -> EvalError {
        EvalError::Type {
            function: self.name.to_string(),
            message: message.into(),
            offset: self.at,
        }
    }

    fn err(&self, message: impl std::fmt::Display) -> EvalError {
        EvalError::Other {
            message: format!("{}(): {message}", self.name),
            offset: self.at,
        }
    }

    fn expected(&self, what: &str, arg: usize, v: &Value) -> EvalError {
        self.ty(format!(
            "argument {} must be {what}, got {}",
            arg + 1,
            v.type_name()
        ))
    }

    fn str<'v>(&self, args: &'v [Value], i: usize) -> Result<&'v str, EvalError> {
        match &args[i] {
            Value::String(s) => Ok(s),
            v => Err(self.expected("a string", i, v)),
        }
    }

    fn int(&self, args: &[Value], i: usize) -> Result<i64, EvalError> {
        match &args[i] {
            Value::Int(n) => Ok(*n),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(*f as i64),
            v => Err(self.expected("an integer", i, v)),
        }
    }
}

fn node(v: Value) -> Node {
    Node::new(v, Span::default())
}

fn string(s: impl Into<Str>) -> Value {
    Value::String(s.into())
}

fn unknown(reason: impl Into<String>) -> Value {
    Value::Unknown(Unknown {
        reason: reason.into(),
    })
}

fn as_unknown(v: &Value) -> Option<&Unknown> {
    match v {
        Value::Unknown(u) => Some(u),
        _ => None,
    }
}

/// The first unknown anywhere inside `v`.
pub fn deep_unknown(v: &Value) -> Option<&Unknown> {
    match v {
        Value::Unknown(u) => Some(u),
        Value::Array(a) => a.iter().find_map(|n| deep_unknown(&n.value)),
        Value::Object(o) => o.iter().find_map(|(_, n)| deep_unknown(&n.value)),
        _ => None,
    }
}

/// Returns early with Unknown when any argument contains an unknown anywhere: for functions
/// that need the whole content (serialisation, equality, …).
macro_rules! need_known {
    ($args:expr) => {
        if let Some(u) = $args.iter().find_map(deep_unknown) {
            return Ok(Value::Unknown(u.clone()));
        }
    };
}

/// Moves argument `i` out, leaving null behind.
fn take_arg(args: &mut [Value], i: usize) -> Value {
    std::mem::replace(&mut args[i], Value::Null)
}

/// Deep equality as `equals` sees it: None when it depends on an unknown. Numbers compare by
/// value; strings case-sensitively; object keys case-insensitively and in any order.
pub fn values_equal(a: &Value, b: &Value) -> Option<bool> {
    match (a, b) {
        (Value::Unknown(_), _) | (_, Value::Unknown(_)) => None,
        (Value::Null, Value::Null) => Some(true),
        (Value::Bool(x), Value::Bool(y)) => Some(x == y),
        (Value::Int(x), Value::Int(y)) => Some(x == y),
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => {
            Some(*x as f64 == *y)
        }
        (Value::Float(x), Value::Float(y)) => Some(x == y),
        (Value::String(x), Value::String(y)) => Some(x == y),
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(false);
            }
            all_equal(
                x.iter()
                    .zip(y)
                    .map(|(p, q)| values_equal(&p.value, &q.value)),
            )
        }
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() {
                return Some(false);
            }
            all_equal(x.iter().map(|(k, v)| {
                match y.iter().find(|(k2, _)| k2.eq_ignore_ascii_case(k)) {
                    Some((_, w)) => values_equal(&v.value, &w.value),
                    None => Some(false),
                }
            }))
        }
        _ => Some(false),
    }
}

/// Some(false) if any is false, else None if any is unknown, else Some(true).
fn all_equal(it: impl Iterator<Item = Option<bool>>) -> Option<bool> {
    let mut unsure = false;
    for r in it {
        match r {
            Some(false) => return Some(false),
            None => unsure = true,
            Some(true) => {}
        }
    }
    if unsure {
        None
    } else {
        Some(true)
    }
}

/// How a scalar appears inside a string (`concat`, `format`, `join`, `string`): .NET's
/// `ToString`, so bools are `True`/`False` (ARM's `string(true())` is `'True'`, a known
/// difference from JSON that other ARM evaluators also had to match); arrays and objects as
/// compact JSON.
fn display(v: &Value, out: &mut String) {
    match v {
        Value::Null => {}
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Float(f) => {
            let _ = write!(out, "{f}");
        }
        Value::String(s) => out.push_str(s),
        Value::Array(_) | Value::Object(_) => write_json(v, out),
        Value::Unknown(u) => {
            let _ = write!(out, "<unknown: {}>", u.reason);
        }
    }
}

/// Compact JSON (for `string()` of arrays and objects). Callers check for unknowns first.
pub fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Null | Value::Unknown(_) => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Float(f) if f.is_finite() => {
            let _ = write!(out, "{f}");
        }
        Value::Float(_) => out.push_str("null"),
        Value::String(s) => write_json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, n) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(&n.value, out);
            }
            out.push(']');
        }
        Value::Object(members) => {
            out.push('{');
            for (i, (k, n)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(k, out);
                out.push(':');
                write_json(&n.value, out);
            }
            out.push('}');
        }
    }
}

fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON document as a value (serde_json stops at 128 levels of nesting, so this recursion
/// is bounded).
pub fn from_json(j: serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(Str::from(s)),
        serde_json::Value::Array(a) => {
            Value::Array(a.into_iter().map(|v| node(from_json(v))).collect())
        }
        serde_json::Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (Str::from(k), node(from_json(v))))
                .collect(),
        ),
    }
}

/// Functions whose value depends on the deployment or the template context: Unknown unless
/// the scope answered them before the library was asked.
fn context_function(c: Ctx<'_>, lname: &str, args: &[Value]) -> Option<R> {
    let deployment_time = matches!(
        lname,
        "reference"
            | "references"
            | "utcnow"
            | "newguid"
            | "deployment"
            | "environment"
            | "resourcegroup"
            | "subscription"
            | "tenant"
            | "managementgroup"
            | "pickzones"
            | "providers"
            | "getsecret"
            | "deployer"
            | "externalinput"
            | "parameters"
            | "variables"
            | "copyindex"
    ) || lname.starts_with("list");
    if lname == "lambdavariables" {
        return Some(Err(c.err(
            "no enclosing lambda declares this variable (lambdaVariables can only be used inside a lambda body)",
        )));
    }
    if !deployment_time {
        return None;
    }
    let what = match args.first() {
        Some(Value::String(s)) => format!("{}('{s}')", c.name),
        _ => format!("{}()", c.name),
    };
    let reason = match lname {
        "parameters" | "variables" | "copyindex" => format!("{what} has no static value here"),
        _ => format!("{what} is known only at deployment time"),
    };
    Some(Ok(unknown(reason)))
}

// ---------------------------------------------------------------------------------------
// array

fn f_array(_: Ctx<'_>, mut args: Vec<Value>) -> R {
    Ok(match take_arg(&mut args, 0) {
        v @ Value::Array(_) => v,
        v => Value::Array(ecow::eco_vec![node(v)]),
    })
}

fn f_concat(c: Ctx<'_>, args: Vec<Value>) -> R {
    if args.iter().any(|a| matches!(a, Value::Array(_))) {
        let mut out = Vec::new();
        for (i, a) in args.into_iter().enumerate() {
            match a {
                Value::Array(items) => out.extend(items),
                Value::Null => {}
                v => {
                    return Err(c.expected("an array (arrays concatenate only with arrays)", i, &v))
                }
            }
        }
        return Ok(Value::Array(out.into()));
    }
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        match a {
            Value::Object(_) => return Err(c.expected("a string or an array", i, a)),
            v => display(v, &mut out),
        }
    }
    Ok(Value::String(Str::from(out)))
}

fn f_contains(c: Ctx<'_>, args: Vec<Value>) -> R {
    let (container, item) = (&args[0], &args[1]);
    match container {
        Value::Unknown(u) => Ok(Value::Unknown(u.clone())),
        // The docs: "The string comparison is case-sensitive. However, when testing if an
        // object contains a key, the comparison is case-insensitive."
        Value::String(s) => match item {
            Value::Unknown(u) => Ok(Value::Unknown(u.clone())),
            Value::String(x) => Ok(Value::Bool(s.contains(x.as_str()))),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                let mut x = String::new();
                display(item, &mut x);
                Ok(Value::Bool(s.contains(&x)))
            }
            v => Err(c.expected("a string", 1, v)),
        },
        Value::Object(members) => match item {
            Value::Unknown(u) => Ok(Value::Unknown(u.clone())),
            Value::String(k) => Ok(Value::Bool(
                members.iter().any(|(m, _)| m.eq_ignore_ascii_case(k)),
            )),
            v => Err(c.expected("a string key", 1, v)),
        },
        Value::Array(items) => {
            if let Some(u) = deep_unknown(item) {
                return Ok(Value::Unknown(u.clone()));
            }
            let mut unsure = None;
            for n in items {
                match values_equal(&n.value, item) {
                    Some(true) => return Ok(Value::Bool(true)),
                    Some(false) => {}
                    None => {
                        unsure = unsure.or_else(|| deep_unknown(&n.value).cloned());
                    }
                }
            }
            Ok(match unsure {
                Some(u) => Value::Unknown(u),
                None => Value::Bool(false),
            })
        }
        v => Err(c.expected("an array, an object or a string", 0, v)),
    }
}

fn f_create_array(_: Ctx<'_>, args: Vec<Value>) -> R {
    Ok(Value::Array(args.into_iter().map(node).collect()))
}

fn f_empty(c: Ctx<'_>, args: Vec<Value>) -> R {
    Ok(Value::Bool(match &args[0] {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        v => return Err(c.expected("an array, an object or a string", 0, v)),
    }))
}

fn f_first(c: Ctx<'_>, mut args: Vec<Value>) -> R {
    match take_arg(&mut args, 0) {
        Value::Array(items) => Ok(items.into_iter().next().map_or(Value::Null, |n| n.value)),
        Value::String(s) => Ok(string(
            s.chars().next().map(String::from).unwrap_or_default(),
        )),
        v => Err(c.expected("an array or a string", 0, &v)),
    }
}

fn f_last(c: Ctx<'_>, mut args: Vec<Value>) -> R {
    match take_arg(&mut args, 0) {
        Value::Array(mut items) => Ok(items.pop().map_or(Value::Null, |n| n.value)),
        Value::String(s) => Ok(string(
            s.chars().last().map(String::from).unwrap_or_default(),
        )),
        v => Err(c.expected("an array or a string", 0, &v)),
    }
}

fn f_flatten(c: Ctx<'_>, mut args: Vec<Value>) -> R {
    let items = match take_arg(&mut args, 0) {
        Value::Array(x) => x,
        v => return Err(c.expected("an array of arrays", 0, &v)),
    };
    let mut out = Vec::new();
    for n in items {
        match n.value {
            Value::Array(inner) => out.extend(inner),
            Value::Unknown(u) => return Ok(Value::Unknown(u)),
            v => {
                return Err(c.ty(format!(
                    "every item must be an array, got {}",
                    v.type_name()
                )))
            }
        }
    }
    Ok(Value::Array(out.into()))
}

/// Case-insensitive char comparison (the docs say string `indexOf`, `lastIndexOf`,
/// `startsWith` and `endsWith` compare case-insensitively).
fn ci_eq(a: char, b: char) -> bool {
    a == b || a.to_lowercase().eq(b.to_lowercase())
}

fn ci_matches(h: &[char], n: &[char]) -> bool {
    h.len() == n.len() && h.iter().zip(n).all(|(a, b)| ci_eq(*a, *b))
}

fn index_of(c: Ctx<'_>, args: &[Value], from_end: bool) -> R {
    match (&args[0], &args[1]) {
        (Value::String(h), Value::String(n)) => {
            let h: Vec<char> = h.chars().collect();
            let n: Vec<char> = n.chars().collect();
            if n.is_empty() {
                // .NET Framework: "".IndexOf → 0, LastIndexOf → last index.
                return Ok(Value::Int(if from_end {
                    h.len().saturating_sub(1) as i64
                } else {
                    0
                }));
            }
            if n.len() > h.len() {
                return Ok(Value::Int(-1));
            }
            let mut positions = 0..=h.len() - n.len();
            let found = if from_end {
                positions
                    .rev()
                    .find(|&i| ci_matches(&h[i..i + n.len()], &n))
            } else {
                positions.find(|&i| ci_matches(&h[i..i + n.len()], &n))
            };
            Ok(Value::Int(found.map_or(-1, |i| i as i64)))
        }
        (Value::String(_), v) => Err(c.expected("a string", 1, v)),
        (Value::Array(items), item) => {
            if let Some(u) = deep_unknown(item) {
                return Ok(Value::Unknown(u.clone()));
            }
            let check = |(i, n): (usize, &Node)| -> Option<Result<i64, Unknown>> {
                match values_equal(&n.value, item) {
                    Some(true) => Some(Ok(i as i64)),
                    Some(false) => None,
                    None => Some(Err(deep_unknown(&n.value).cloned().unwrap_or(Unknown {
                        reason: "unknown element".into(),
                    }))),
                }
            };
            let r = if from_end {
                items.iter().enumerate().rev().find_map(check)
            } else {
                items.iter().enumerate().find_map(check)
            };
            Ok(match r {
                Some(Ok(i)) => Value::Int(i),
                // An unknown element before any match: it might be the match.
                Some(Err(u)) => Value::Unknown(u),
                None => Value::Int(-1),
            })
        }
        (v, _) => Err(c.expected("an array or a string", 0, v)),
    }
}

fn f_index_of(c: Ctx<'_>, args: Vec<Value>) -> R {
    index_of(c, &args, false)
}

fn f_last_index_of(c: Ctx<'_>, args: Vec<Value>) -> R {
    index_of(c, &args, true)
}

fn f_intersection(c: Ctx<'_>, mut args: Vec<Value>) -> R {
    need_known!(args);
    match take_arg(&mut args, 0) {
        Value::Array(first) => {
            let mut out: Vec<Node> = Vec::new();
            for (i, a) in args.iter().enumerate().skip(1) {
                if !matches!(a, Value::Array(_)) {
                    return Err(c.expected("an array", i, a));
                }
            }
            for n in first {
                let in_all = args[1..].iter().all(|a| {
                    a.as_array_items()
                        .iter()
                        .any(|m| values_equal(&m.value, &n.value) == Some(true))
                });
                let dup = out
                    .iter()
                    .any(|m| values_equal(&m.value, &n.value) == Some(true));
                if in_all && !dup {
                    out.push(n);
                }
            }
            Ok(Value::Array(out.into()))
        }
        Value::Object(first) => {
            let mut out = Vec::new();
            for (i, a) in args.iter().enumerate().skip(1) {
                if !matches!(a, Value::Object(_)) {
                    return Err(c.expected("an object", i, a));
                }
            }
            for (k, v) in first {
                let in_all = args[1..].iter().all(|a| match a {
                    Value::Object(m) => m.iter().any(|(k2, v2)| {
                        k2.eq_ignore_ascii_case(&k)
                            && values_equal(&v.value, &v2.value) == Some(true)
                    }),
                    _ => false,
                });
                if in_all {
                    out.push((k, v));
                }
            }
            Ok(Value::Object(out.into()))
        }
        v => Err(c.expected("an array or an object", 0, &v)),
    }
}

trait ArrayItems {
    fn as_array_items(&self) -> &[Node];
}

impl ArrayItems for Value {
    fn as_array_items(&self) -> &[Node] {
        match self {
            Value::Array(a) => a,
            _ => &[],
        }
    }
}

fn f_items(c: Ctx<'_>, mut args: Vec<Value>) -> R {
    let mut members = match take_arg(&mut args, 0) {
        Value::Object(x) => x,
        v => return Err(c.expected("an object", 0, &v)),
    };
    // The docs: "The items() function sorts the objects in the alphabetical order."
    members
        .make_mut()
        .sort_by(|a, b| compare_strings(&a.0, &b.0));
    Ok(Value::Array(
        members
            .into_iter()
            .map(|(k, v)| {
                node(Value::Object(ecow::eco_vec![
                    ("key".into(), node(string(k))),
                    ("value".into(), v),
                ]))
            })
            .collect(),
    ))
}

fn f_length(c: Ctx<'_>, args: Vec<Value>) -> R {
    Ok(Value::Int(match &args[0] {
        Value::String(s) => s.chars().count() as i64,
        Value::Array(a) => a.len() as i64,
        Value::Object(o) => o.len() as i64,
        v => return Err(c.expected("an array, an object or a string", 0, v)),
    }))
}

fn extreme(c: Ctx<'_>, args: Vec<Value>, want: Ordering) -> R {
    need_known!(args);
    let nums: Vec<Value> = match args.as_slice() {
        [Value::Array(items)] => items.iter().map(|n| n.value.clone()).collect(),
        _ => args,
    };
    let mut best: Option<Value> = None;
    for v in nums {
        if !matches!(v, Value::Int(_) | Value::Float(_)) {
            return Err(c.ty(format!("expected integers, got {}", v.type_name())));
        }
        best = match best {
            Some(b) if compare_numbers(&v, &b) != Some(want) => Some(b),
            _ => Some(v),
        };
    }
    best.ok_or_else(|| c.err("the array is empty"))
}

fn f_max(c: Ctx<'_>, args: Vec<Value>) -> R {
    extreme(c, args, Ordering::Greater)
}

fn f_min(c: Ctx<'_>, args: Vec<Value>) -> R {
    extreme(c, args, Ordering::Less)
}

fn f_range(c: Ctx<'_>, args: Vec<Value>) -> R {
    let start = c.int(&args, 0)?;
    let count = c.int(&args, 1)?;
    // Limits from the docs: count ≤ 10000, and start + count ≤ 2147483647.
    if !(0..=10_000).contains(&count) {
        return Err(c.err(format!("count must be between 0 and 10000, got {count}")));
    }
    if start.checked_add(count).is_none_or(|e| e > 2_147_483_647) || start < i32::MIN as i64 {
        return Err(c.err("startIndex + count must not exceed 2147483647"));
    }
    Ok(Value::Array(
        (start..start + count)
            .map(|i| node(Value::Int(i)))
            .collect(),
    ))
}

fn skip_take(c: Ctx<'_>, mut args: Vec<Value>, skip: bool) -> R {
    let n = c.int(&args, 1)?.max(0) as usize;
    match take_arg(&mut args, 0) {
        Value::Array(mut items) => {
            let n = n.min(items.len());
            if skip {
                items.drain(..n);
            } else {
                items.truncate(n);
            }
            Ok(Value::Array(items))
        }
        Value::String(s) => Ok(string(if skip {
            s.chars().skip(n).collect::<String>()
        } else {
            s.chars().take(n).collect::<String>()
        })),
        v => Err(c.expected("an array or a string", 0, &v)),
    }
}

fn f_skip(c: Ctx<'_>, args: Vec<Value>) -> R {
    skip_take(c, args, true)
}

fn f_take(c: Ctx<'_>, args: Vec<Value>) -> R {
    skip_take(c, args, false)
}

/// Deep merge for `union` of objects: "The union function merges not only the top-level
/// elements but also recursively merges any nested objects within them. Nested array values
/// aren't merged." (the docs). Later values win.
fn merge_into(target: &mut Seq<(Str, Node)>, source: Seq<(Str, Node)>) {
    for (k, v) in source {
        match target
            .make_mut()
            .iter_mut()
            .find(|(t, _)| t.eq_ignore_ascii_case(&k))
        {
            Some((_, existing)) => match (&mut existing.value, v.value) {
                (Value::Object(t), Value::Object(s)) => merge_into(t, s),
                (slot, value) => *slot = value,
            },
            None => target.push((k, v)),
        }
    }
}

fn f_union(c: Ctx<'_>, args: Vec<Value>) -> R {
    match &args[0] {
        Value::Array(_) => {
            let mut out: Vec<Node> = Vec::new();
            for (i, a) in args.into_iter().enumerate() {
                let Value::Array(items) = a else {
                    return Err(c.expected("an array", i, &a));
                };
                for n in items {
                    // Unknown items are kept: they may or may not be duplicates.
                    if !out
                        .iter()
                        .any(|m| values_equal(&m.value, &n.value) == Some(true))
                    {
                        out.push(n);
                    }
                }
            }
            Ok(Value::Array(out.into()))
        }
        Value::Object(_) => {
            let mut out = Seq::new();
            for (i, a) in args.into_iter().enumerate() {
                match a {
                    Value::Object(members) => merge_into(&mut out, members),
                    Value::Null => {}
                    v => return Err(c.expected("an object", i, &v)),
                }
            }
            Ok(Value::Object(out))
        }
        v => Err(c.expected("an array or an object", 0, v)),
    }
}

fn f_try_index_from_end(c: Ctx<'_>, mut args: Vec<Value>) -> R {
    let n = c.int(&args, 1)?;
    let items = match take_arg(&mut args, 0) {
        Value::Array(x) => x,
        v => return Err(c.expected("an array", 0, &v)),
    };
    if n < 1 || n as u64 > items.len() as u64 {
        return Ok(Value::Null);
    }
    let i = items.len() - n as usize;
    Ok(items[i].value.clone())
}

// ---------------------------------------------------------------------------------------
// object

fn f_create_object(c: Ctx<'_>, args: Vec<Value>) -> R {
    if args.len() % 2 != 0 {
        return Err(c.arity("an even number of", args.len()));
    }
    let mut out = node(Value::Object(Seq::with_capacity(args.len() / 2)));
    let mut it = args.into_iter().enumerate();
    while let (Some((i, k)), Some((_, v))) = (it.next(), it.next()) {
        match k {
            Value::String(k) => out.set(&k, node(v)),
            // An unknown key: the object's shape is unknown.
            Value::Unknown(u) => return Ok(Value::Unknown(u)),
            k => return Err(c.expected("a string key", i, &k)),
        }
    }
    Ok(out.value)
}

fn f_json(c: Ctx<'_>, args: Vec<Value>) -> R {
    let s = c.str(&args, 0)?;
    parse_json(c, s)
}

fn parse_json(c: Ctx<'_>, s: &str) -> R {
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(j) => Ok(from_json(j)),
        Err(e) => Err(c.err(format!("invalid JSON: {e}"))),
    }
}

fn f_null(_: Ctx<'_>, _: Vec<Value>) -> R {
    Ok(Value::Null)
}

fn f_object_keys(c: Ctx<'_>, args: Vec<Value>) -> R {
    match &args[0] {
        Value::Object(o) => Ok(Value::Array(
            o.iter().map(|(k, _)| node(string(k.as_str()))).collect(),
        )),
        v => Err(c.expected("an object", 0, v)),
    }
}

fn f_shallow_merge(c: Ctx<'_>, mut args: Vec<Value>) -> R {
    let items = match take_arg(&mut args, 0) {
        Value::Array(x) => x,
        v => return Err(c.expected("an array of objects", 0, &v)),
    };
    let mut out = node(Value::Object(Seq::new()));
    for n in items {
        match n.value {
            Value::Object(members) => {
                for (k, v) in members {
                    out.set(&k, v);
                }
            }
            Value::Unknown(u) => return Ok(Value::Unknown(u)),
            Value::Null => {}
            v => {
                return Err(c.ty(format!(
                    "every item must be an object, got {}",
                    v.type_name()
                )))
            }
        }
    }
    Ok(out.value)
}

fn f_try_get(c: Ctx<'_>, mut args: Vec<Value>) -> R {
    let mut cur = take_arg(&mut args, 0);
    for (i, key) in args.iter().enumerate().skip(1) {
        cur = match (cur, key) {
            (Value::Unknown(u), _) => return Ok(Value::Unknown(u)),
            (Value::Null, _) => return Ok(Value::Null),
            (Value::Object(members), Value::String(k)) => {
                match members.into_iter().find(|(m, _)| m.eq_ignore_ascii_case(k)) {
                    Some((_, n)) => n.value,
                    None => return Ok(Value::Null),
                }
            }
            (Value::Array(items), Value::Int(n)) => {
                if *n < 0 {
                    return Ok(Value::Null);
                }
                match items.into_iter().nth(*n as usize) {
                    Some(n) => n.value,
                    None => return Ok(Value::Null),
                }
            }
            (v, k) => {
                return Err(c.ty(format!(
                    "cannot look up a {} key in a {} value (argument {})",
                    k.type_name(),
                    v.type_name(),
                    i + 1
                )))
            }
        };
    }
    Ok(cur)
}

// ---------------------------------------------------------------------------------------
// comparison

fn f_coalesce(_: Ctx<'_>, args: Vec<Value>) -> R {
    for a in args {
        match a {
            Value::Null => continue,
            v => return Ok(v),
        }
    }
    Ok(Value::Null)
}

fn f_equals(_: Ctx<'_>, args: Vec<Value>) -> R {
    match values_equal(&args[0], &args[1]) {
        Some(b) => Ok(Value::Bool(b)),
        None => Ok(Value::Unknown(
            args.iter()
                .find_map(deep_unknown)
                .cloned()
                .unwrap_or(Unknown {
                    reason: "unknown operand".into(),
                }),
        )),
    }
}

/// String order as ARM's culture-sensitive comparison sees it, approximately: ignoring case
/// first, then lower-case before upper-case at the first difference (`'a' < 'A' < 'b'`).
pub fn compare_strings(a: &str, b: &str) -> Ordering {
    let fold = a
        .chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase));
    if fold != Ordering::Equal {
        return fold;
    }
    for (x, y) in a.chars().zip(b.chars()) {
        if x != y {
            return if x.is_lowercase() {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
    }
    a.len().cmp(&b.len())
}

fn compare_numbers(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::Float(y)) => (*x as f64).partial_cmp(y),
        (Value::Float(x), Value::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        _ => None,
    }
}

fn compare(c: Ctx<'_>, args: &[Value]) -> Result<Ordering, EvalError> {
    if let Some(o) = compare_numbers(&args[0], &args[1]) {
        return Ok(o);
    }
    match (&args[0], &args[1]) {
        (Value::String(a), Value::String(b)) => Ok(compare_strings(a, b)),
        (a, b) => Err(c.ty(format!(
            "can compare two numbers or two strings, not {} and {}",
            a.type_name(),
            b.type_name()
        ))),
    }
}

fn f_greater(c: Ctx<'_>, args: Vec<Value>) -> R {
    Ok(Value::Bool(compare(c, &args)? == Ordering::Greater))
}

fn f_greater_or_equals(c: Ctx<'_>, args: Vec<Value>) -> R {
    Ok(Value::Bool(compare(c, &args)? != Ordering::Less))
}

fn f_less(c: Ctx<'_>, args: Vec<Value>) -> R {
    Ok(Value::Bool(compare(c, &args)? == Ordering::Less))
}

fn f_less_or_equals(c: Ctx<'_>, args: Vec<Value>) -> R {
    Ok(Value::Bool(compare(c, &args)? != Ordering::Greater))
}

// ---------------------------------------------------------------------------------------
// logical

fn and_or(c: Ctx<'_>, args: Vec<Value>, is_and: bool) -> R {
    let mut first_unknown = None;
    for (i, a) in args.into_iter().enumerate() {
        match a {
            Value::Bool(b) if b != is_and => return Ok(Value::Bool(b)),
            Value::Bool(_) => {}
            Value::Unknown(u) => {
                first_unknown.get_or_insert(u);
            }
            v => return Err(c.expected("a bool", i, &v)),
        }
    }
    Ok(first_unknown.map_or(Value::Bool(is_and), Value::Unknown))
}

fn f_and(c: Ctx<'_>, args: Vec<Value>) -> R {
    and_or(c, args, true)
}

fn f_or(c: Ctx<'_>, args: Vec<Value>) -> R {
    and_or(c, args, false)
}

fn f_if(c: Ctx<'_>, mut args: Vec<Value>) -> R {
    match take_arg(&mut args, 0) {
        Value::Bool(true) => Ok(take_arg(&mut args, 1)),
        Value::Bool(false) => Ok(take_arg(&mut args, 2)),
        Value::Unknown(u) => Ok(match values_equal(&args[1], &args[2]) {
            Some(true) => take_arg(&mut args, 1),
            _ => Value::Unknown(u),
        }),
        v => Err(c.expected("a bool", 0, &v)),
    }
}

fn f_bool(c: Ctx<'_>, args: Vec<Value>) -> R {
    match &args[0] {
        Value::Bool(b) => Ok(Value::Bool(*b)),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
        Value::String(s) => Err(c.err(format!("'{s}' is not 'true' or 'false'"))),
        Value::Int(n) => Ok(Value::Bool(*n != 0)),
        v => Err(c.expected("a bool, a string or an integer", 0, v)),
    }
}

fn f_not(c: Ctx<'_>, args: Vec<Value>) -> R {
    match &args[0] {
        Value::Bool(b) => Ok(Value::Bool(!b)),
        v => Err(c.expected("a bool", 0, v)),
    }
}

fn f_true(_: Ctx<'_>, _: Vec<Value>) -> R {
    Ok(Value::Bool(true))
}

fn f_false(_: Ctx<'_>, _: Vec<Value>) -> R {
    Ok(Value::Bool(false))
}

// ---------------------------------------------------------------------------------------
// numeric

fn arith(
    c: Ctx<'_>,
    args: &[Value],
    int_op: fn(i64, i64) -> Option<i64>,
    float_op: fn(f64, f64) -> f64,
) -> R {
    match (&args[0], &args[1]) {
        (Value::Int(a), Value::Int(b)) => int_op(*a, *b)
            .map(Value::Int)
            .ok_or_else(|| c.err(format!("integer overflow computing {}({a}, {b})", c.name))),
        (a, b) => {
            let x = as_f64(a).ok_or_else(|| c.expected("a number", 0, a))?;
            let y = as_f64(b).ok_or_else(|| c.expected("a number", 1, b))?;
            let r = float_op(x, y);
            if r.is_finite() {
                Ok(Value::Float(r))
            } else {
                Err(c.err("the result is not a finite number"))
            }
        }
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Int(n) => Some(*n as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn is_zero(v: &Value) -> bool {
    matches!(v, Value::Int(0)) || matches!(v, Value::Float(f) if *f == 0.0)
}

fn f_add(c: Ctx<'_>, args: Vec<Value>) -> R {
    arith(c, &args, i64::checked_add, |a, b| a + b)
}

fn f_sub(c: Ctx<'_>, args: Vec<Value>) -> R {
    arith(c, &args, i64::checked_sub, |a, b| a - b)
}

fn f_mul(c: Ctx<'_>, args: Vec<Value>) -> R {
    arith(c, &args, i64::checked_mul, |a, b| a * b)
}

fn f_div(c: Ctx<'_>, args: Vec<Value>) -> R {
    if is_zero(&args[1]) {
        return Err(c.err("division by zero"));
    }
    // Integer division truncates toward zero, as in .NET.
    arith(c, &args, i64::checked_div, |a, b| a / b)
}

fn f_mod(c: Ctx<'_>, args: Vec<Value>) -> R {
    if is_zero(&args[1]) {
        return Err(c.err("division by zero"));
    }
    // The remainder takes the sign of the dividend, as in .NET.
    arith(c, &args, i64::checked_rem, |a, b| a % b)
}

fn f_int(c: Ctx<'_>, args: Vec<Value>) -> R {
    match &args[0] {
        Value::Int(n) => Ok(Value::Int(*n)),
        Value::Float(f) => {
            // .NET Convert.ToInt64(double) rounds half to even.
            let r = f.round_ties_even();
            if r.is_finite() && r.abs() < 9.2e18 {
                Ok(Value::Int(r as i64))
            } else {
                Err(c.err(format!("{f} is out of the integer range")))
            }
        }
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| c.err(format!("'{s}' is not an integer"))),
        v => Err(c.expected("a string or a number", 0, v)),
    }
}

fn f_float(c: Ctx<'_>, args: Vec<Value>) -> R {
    match &args[0] {
        Value::Int(n) => Ok(Value::Float(*n as f64)),
        Value::Float(f) => Ok(Value::Float(*f)),
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => Err(c.err(format!("'{s}' is not a number"))),
        },
        v => Err(c.expected("a string or a number", 0, v)),
    }
}

// ---------------------------------------------------------------------------------------
// string

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    let mut padding = 0;
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                padding += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => return None,
        };
        if padding > 0 {
            return None; // data after padding
        }
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if padding > 2 {
        return None;
    }
    Some(out)
}

fn f_base64(c: Ctx<'_>, args: Vec<Value>) -> R {
    Ok(string(base64_encode(c.str(&args, 0)?.as_bytes())))
}

fn decode_b64(c: Ctx<'_>, s: &str) -> Result<String, EvalError> {
    base64_decode(s)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .ok_or_else(|| c.err("the argument is not valid base64"))
}

fn f_base64_to_string(c: Ctx<'_>, args: Vec<Value>) -> R {
    Ok(string(decode_b64(c, c.str(&args, 0)?)?))
}

fn f_base64_to_json(c: Ctx<'_>, args: Vec<Value>) -> R {
    let s = decode_b64(c, c.str(&args, 0)?)?;
    parse_json(c, &s)
}

fn f_data_uri(_: Ctx<'_>, args: Vec<Value>) -> R {
    let mut s = String::from("data:text/plain;charset=utf8;base64,");
    match &args[0] {
        Value::String(x) => s.push_str(&base64_encode(x.as_bytes())),
        v => {
            // The docs accept any value: non-strings are converted to their string form.
            need_known!(args);
            let mut x = String::new();
            display(v, &mut x);
            s.push_str(&base64_encode(x.as_bytes()));
        }
    }
    Ok(string(s))
}

fn f_data_uri_to_string(c: Ctx<'_>, args: Vec<Value>) -> R {
    let s = c.str(&args, 0)?;
    let Some(rest) = s.strip_prefix("data:") else {
        return Err(c.err("the argument is not a data URI (expected 'data:…')"));
    };
    let Some((meta, data)) = rest.split_once(',') else {
        return Err(c.err("the data URI has no ',' before its data"));
    };
    if meta.to_ascii_lowercase().ends_with(";base64") {
        Ok(string(decode_b64(c, data)?))
    } else {
        Ok(string(percent_decode(data)))
    }
}

fn f_ends_with(c: Ctx<'_>, args: Vec<Value>) -> R {
    let (s, x) = (c.str(&args, 0)?, c.str(&args, 1)?);
    let (h, n): (Vec<char>, Vec<char>) = (s.chars().collect(), x.chars().collect());
    Ok(Value::Bool(
        n.len() <= h.len() && ci_matches(&h[h.len() - n.len()..], &n),
    ))
}

fn f_starts_with(c: Ctx<'_>, args: Vec<Value>) -> R {
    let (s, x) = (c.str(&args, 0)?, c.str(&args, 1)?);
    let (h, n): (Vec<char>, Vec<char>) = (s.chars().collect(), x.chars().collect());
    Ok(Value::Bool(
        n.len() <= h.len() && ci_matches(&h[..n.len()], &n),
    ))
}

/// Widths and lengths beyond this are errors rather than huge allocations.
const MAX_LEN: usize = 1_000_000;

fn f_format(c: Ctx<'_>, args: Vec<Value>) -> R {
    need_known!(args);
    let fmt = c.str(&args, 0)?;
    let values = &args[1..];
    let mut out = String::with_capacity(fmt.len() + 16);
    let mut chars = fmt.char_indices().peekable();
    let bad = |at: usize| {
        c.err(format!(
            "invalid format string: unexpected brace at position {at}"
        ))
    };
    while let Some((i, ch)) = chars.next() {
        match ch {
            '{' if chars.peek().map(|p| p.1) == Some('{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek().map(|p| p.1) == Some('}') => {
                chars.next();
                out.push('}');
            }
            '}' => return Err(bad(i)),
            '{' => {
                let Some(close) = fmt[i..].find('}') else {
                    return Err(bad(i));
                };
                let item = &fmt[i + 1..i + close];
                while chars.peek().is_some_and(|p| p.0 <= i + close) {
                    chars.next();
                }
                let (head, spec) = match item.split_once(':') {
                    Some((h, s)) => (h, s),
                    None => (item, ""),
                };
                let (index, align) = match head.split_once(',') {
                    Some((ix, al)) => (ix, Some(al)),
                    None => (head, None),
                };
                let index: usize = index
                    .trim()
                    .parse()
                    .map_err(|_| c.err(format!("invalid format item '{{{item}}}'")))?;
                let Some(v) = values.get(index) else {
                    return Err(c.err(format!(
                        "format item {{{index}}} refers to a missing argument ({} given)",
                        values.len()
                    )));
                };
                let text = format_value(v, spec);
                match align {
                    None => out.push_str(&text),
                    Some(a) => {
                        let w: i64 = a
                            .trim()
                            .parse()
                            .map_err(|_| c.err(format!("invalid alignment in '{{{item}}}'")))?;
                        let width = w.unsigned_abs() as usize;
                        if width > MAX_LEN {
                            return Err(c.err("alignment too large"));
                        }
                        let pad = width.saturating_sub(text.chars().count());
                        if w < 0 {
                            out.push_str(&text);
                            out.extend(std::iter::repeat_n(' ', pad));
                        } else {
                            out.extend(std::iter::repeat_n(' ', pad));
                            out.push_str(&text);
                        }
                    }
                }
            }
            ch => out.push(ch),
        }
    }
    Ok(string(out))
}

/// One value under a .NET format specifier. Supported for numbers: `D`n, `X`n, `N`n, `F`n
/// and all-zero custom patterns (`000`); anything else prints the value as `{0}` would.
fn format_value(v: &Value, spec: &str) -> String {
    let mut out = String::new();
    let spec = spec.trim();
    let (kind, digits) = match spec.char_indices().nth(1) {
        Some((i, _)) => (spec.chars().next(), spec[i..].parse::<usize>().ok()),
        None => (spec.chars().next(), None),
    };
    let digits = digits.map(|d| d.min(100));
    match (v, kind) {
        (Value::Int(n), Some('D' | 'd')) => {
            let w = digits.unwrap_or(0);
            if *n < 0 {
                let _ = write!(out, "-{:0w$}", n.unsigned_abs());
            } else {
                let _ = write!(out, "{n:0w$}");
            }
        }
        (Value::Int(n), Some('X')) => {
            let _ = write!(out, "{:0w$X}", n, w = digits.unwrap_or(0));
        }
        (Value::Int(n), Some('x')) => {
            let _ = write!(out, "{:0w$x}", n, w = digits.unwrap_or(0));
        }
        (Value::Int(_) | Value::Float(_), Some('N' | 'n')) => {
            let f = as_f64(v).unwrap_or(0.0);
            let s = format!("{:.p$}", f.abs(), p = digits.unwrap_or(2));
            let (int_part, frac) = match s.split_once('.') {
                Some((a, b)) => (a.to_string(), Some(b.to_string())),
                None => (s, None),
            };
            if f < 0.0 {
                out.push('-');
            }
            let len = int_part.len();
            for (i, ch) in int_part.chars().enumerate() {
                if i > 0 && (len - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(ch);
            }
            if let Some(frac) = frac {
                out.push('.');
                out.push_str(&frac);
            }
        }
        (Value::Int(_) | Value::Float(_), Some('F' | 'f')) => {
            let _ = write!(
                out,
                "{:.p$}",
                as_f64(v).unwrap_or(0.0),
                p = digits.unwrap_or(2)
            );
        }
        (Value::Int(n), Some('0')) if spec.bytes().all(|b| b == b'0') => {
            let w = spec.len().min(100);
            if *n < 0 {
                let _ = write!(out, "-{:0w$}", n.unsigned_abs());
            } else {
                let _ = write!(out, "{n:0w$}");
            }
        }
        _ => display(v, &mut out),
    }
    out
}

/// Arguments joined by `-` (how ARM feeds `guid` and `uniqueString` to their hash).
fn hash_input(c: Ctx<'_>, args: &[Value]) -> Result<[u8; 32], EvalError> {
    let mut h = Sha256::new();
    for i in 0..args.len() {
        if i > 0 {
            h.update(b"-");
        }
        h.update(c.str(args, i)?.as_bytes());
    }
    Ok(h.finalize().into())
}

fn f_guid(c: Ctx<'_>, args: Vec<Value>) -> R {
    // A name-based (version 5 layout) UUID from SHA-256: deterministic, but not the value
    // Azure computes (its algorithm is not documented).
    let mut b = hash_input(c, &args)?;
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b[..16].iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{byte:02x}");
    }
    Ok(string(s))
}

fn f_unique_string(c: Ctx<'_>, args: Vec<Value>) -> R {
    // 13 base32 characters like Azure's, from SHA-256 (Azure's own hash is not documented).
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let b = hash_input(c, &args)?;
    let mut n = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let mut s = [0u8; 13];
    for slot in s.iter_mut().rev() {
        *slot = ALPHABET[(n & 31) as usize];
        n >>= 5;
    }
    Ok(string(String::from_utf8_lossy(&s).into_owned()))
}

fn f_join(c: Ctx<'_>, args: Vec<Value>) -> R {
    need_known!(args);
    let Value::Array(items) = &args[0] else {
        return Err(c.expected("an array", 0, &args[0]));
    };
    let sep = c.str(&args, 1)?;
    let mut out = String::new();
    for (i, n) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        display(&n.value, &mut out);
    }
    Ok(string(out))
}

fn f_pad_left(c: Ctx<'_>, args: Vec<Value>) -> R {
    let s = match &args[0] {
        Value::String(s) => s.clone(),
        Value::Int(n) => Str::from(n.to_string()),
        v => return Err(c.expected("a string or an integer", 0, v)),
    };
    let total = c.int(&args, 1)?;
    if total < 0 || total as u64 > MAX_LEN as u64 {
        return Err(c.err(format!(
            "totalLength must be between 0 and {MAX_LEN}, got {total}"
        )));
    }
    let pad = match args.get(2) {
        None => ' ',
        Some(Value::String(p)) => {
            let mut it = p.chars();
            match (it.next(), it.next()) {
                (Some(ch), None) => ch,
                _ => return Err(c.err("paddingCharacter must be a single character")),
            }
        }
        Some(v) => return Err(c.expected("a one-character string", 2, v)),
    };
    let len = s.chars().count();
    let mut out = String::with_capacity(s.len() + (total as usize).saturating_sub(len));
    out.extend(std::iter::repeat_n(
        pad,
        (total as usize).saturating_sub(len),
    ));
    out.push_str(&s);
    Ok(string(out))
}

fn f_replace(c: Ctx<'_>, args: Vec<Value>) -> R {
    let (s, old, new) = (c.str(&args, 0)?, c.str(&args, 1)?, c.str(&args, 2)?);
    if old.is_empty() {
        return Err(c.err("oldString must not be empty"));
    }
    Ok(string(s.replace(old, new)))
}

fn f_split(c: Ctx<'_>, args: Vec<Value>) -> R {
    let s = c.str(&args, 0)?;
    let delims: Vec<&str> = match &args[1] {
        Value::String(d) => vec![d.as_str()],
        Value::Array(items) => {
            let mut v = Vec::with_capacity(items.len());
            for n in items {
                match &n.value {
                    Value::String(d) => v.push(d.as_str()),
                    Value::Unknown(u) => return Ok(Value::Unknown(u.clone())),
                    other => {
                        return Err(c.ty(format!(
                            "delimiters must be strings, got {}",
                            other.type_name()
                        )))
                    }
                }
            }
            v
        }
        v => return Err(c.expected("a string or an array of strings", 1, v)),
    };
    // .NET String.Split(string[]): empty delimiters are ignored; at each position the first
    // matching delimiter (in the given order) wins; empty parts are kept.
    let delims: Vec<&str> = delims.into_iter().filter(|d| !d.is_empty()).collect();
    let mut parts = Vec::new();
    let mut last = 0;
    let mut i = 0;
    while i < s.len() {
        if let Some(d) = delims.iter().find(|d| s[i..].starts_with(**d)) {
            parts.push(node(string(&s[last..i])));
            i += d.len();
            last = i;
        } else {
            i += s[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    parts.push(node(string(&s[last..])));
    Ok(Value::Array(parts.into()))
}

fn f_string(_: Ctx<'_>, mut args: Vec<Value>) -> R {
    need_known!(args);
    match take_arg(&mut args, 0) {
        v @ Value::String(_) => Ok(v),
        v => {
            let mut out = String::new();
            display(&v, &mut out);
            Ok(string(out))
        }
    }
}

fn f_substring(c: Ctx<'_>, args: Vec<Value>) -> R {
    let s = c.str(&args, 0)?;
    let start = c.int(&args, 1)?;
    let len = s.chars().count() as i64;
    let count = match args.get(2) {
        Some(_) => c.int(&args, 2)?,
        None => len.saturating_sub(start),
    };
    if start < 0 || count < 0 || start > len || count > len.saturating_sub(start) {
        return Err(c.err(format!(
            "startIndex {start} and length {count} must refer to a location within the string (length {len})"
        )));
    }
    Ok(string(
        s.chars()
            .skip(start as usize)
            .take(count as usize)
            .collect::<String>(),
    ))
}

fn f_to_lower(c: Ctx<'_>, args: Vec<Value>) -> R {
    Ok(string(c.str(&args, 0)?.to_lowercase()))
}

fn f_to_upper(c: Ctx<'_>, args: Vec<Value>) -> R {
    Ok(string(c.str(&args, 0)?.to_uppercase()))
}

fn f_trim(c: Ctx<'_>, args: Vec<Value>) -> R {
    Ok(string(c.str(&args, 0)?.trim()))
}

fn f_uri(c: Ctx<'_>, args: Vec<Value>) -> R {
    let (base, rel) = (c.str(&args, 0)?, c.str(&args, 1)?);
    // The docs' rules: a base ending in '/' gets the relative part appended (a leading '/'
    // of it merges with the trailing one); otherwise the base's last path segment is
    // replaced, or a '/' is added when the base has no path.
    let rel_trimmed = rel.strip_prefix('/').unwrap_or(rel);
    if base.ends_with('/') {
        return Ok(string(format!("{base}{rel_trimmed}")));
    }
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    match base[authority_start..].rfind('/') {
        Some(i) => Ok(string(format!(
            "{}/{rel_trimmed}",
            &base[..authority_start + i]
        ))),
        None => Ok(string(format!("{base}/{rel_trimmed}"))),
    }
}

fn f_uri_component(c: Ctx<'_>, args: Vec<Value>) -> R {
    let s = c.str(&args, 0)?;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    Ok(string(out))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |x: u8| (x as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn f_uri_component_to_string(c: Ctx<'_>, args: Vec<Value>) -> R {
    Ok(string(percent_decode(c.str(&args, 0)?)))
}

fn f_any(_: Ctx<'_>, mut args: Vec<Value>) -> R {
    Ok(take_arg(&mut args, 0))
}

// ---------------------------------------------------------------------------------------
// date: UTC only, by hand (days-from-civil arithmetic), years 1..=9999 as in .NET.

/// A UTC instant: seconds since the Unix epoch plus 100 ns ticks (.NET's resolution).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Instant {
    secs: i64,
    ticks: u32,
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Seconds of 0001-01-01 and 9999-12-31T23:59:59 (the .NET DateTime range).
const MIN_SECS: i64 = -62135596800;
const MAX_SECS: i64 = 253402300799;

/// Parses `yyyy-MM-dd`, `yyyy-MM-ddTHH:mm[:ss[.fffffff]][Z|±HH:mm]` (a space instead of `T`
/// too) and the compact `yyyyMMddTHHmmssZ` of `utcNow()`. Returns the instant and whether
/// the compact form was used.
fn parse_datetime(s: &str) -> Option<(Instant, bool)> {
    let s = s.trim();
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) && !part.is_empty() {
            part.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d, mut i, compact) =
        if b.len() >= 15 && b.get(8) == Some(&b'T') && b[..8].iter().all(u8::is_ascii_digit) {
            (num(0..4)?, num(4..6)?, num(6..8)?, 8, true)
        } else {
            if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
                return None;
            }
            (num(0..4)?, num(5..7)?, num(8..10)?, 10, false)
        };
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y as i64, mo) || y == 0 {
        return None;
    }
    let (mut hh, mut mm, mut ss, mut ticks) = (0u32, 0u32, 0u32, 0u32);
    let mut offset_secs = 0i64;
    if i < b.len() {
        if !matches!(b[i], b'T' | b't' | b' ') {
            return None;
        }
        i += 1;
        if compact {
            hh = num(i..i + 2)?;
            mm = num(i + 2..i + 4)?;
            ss = num(i + 4..i + 6)?;
            i += 6;
        } else {
            hh = num(i..i + 2)?;
            if b.get(i + 2) != Some(&b':') {
                return None;
            }
            mm = num(i + 3..i + 5)?;
            i += 5;
            if b.get(i) == Some(&b':') {
                ss = num(i + 1..i + 3)?;
                i += 3;
                if b.get(i) == Some(&b'.') {
                    i += 1;
                    let start = i;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    if i == start {
                        return None;
                    }
                    let frac = &s[start..i.min(start + 7)];
                    ticks = frac.parse::<u32>().ok()? * 10u32.pow(7 - frac.len() as u32);
                }
            }
        }
        match b.get(i) {
            None => {}
            Some(b'Z' | b'z') if i + 1 == b.len() => {}
            Some(sign @ (b'+' | b'-')) if !compact => {
                let oh = num(i + 1..i + 3)? as i64;
                let om = match b.get(i + 3) {
                    Some(b':') => num(i + 4..i + 6)? as i64,
                    None => 0,
                    _ => num(i + 3..i + 5)? as i64,
                };
                let len = s.len() - i;
                if !matches!(len, 3 | 5 | 6) {
                    return None;
                }
                offset_secs = (oh * 3600 + om * 60) * if *sign == b'+' { 1 } else { -1 };
            }
            _ => return None,
        }
    }
    if hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let secs =
        days_from_civil(y as i64, mo, d) * 86400 + (hh * 3600 + mm * 60 + ss) as i64 - offset_secs;
    Some((Instant { secs, ticks }, compact))
}

fn format_iso(t: Instant, compact: bool) -> String {
    let days = t.secs.div_euclid(86400);
    let sod = t.secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (sod / 3600, sod / 60 % 60, sod % 60);
    if compact {
        return format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}Z");
    }
    let mut s = format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}");
    if t.ticks > 0 {
        let frac = format!("{:07}", t.ticks);
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// An ISO-8601 duration: `[-]P[nY][nM][nW][nD][T[nH][nM][n[.n]S]]`, as (months, seconds,
/// ticks), all with the duration's sign.
fn parse_duration(s: &str) -> Option<(i64, i64, i64)> {
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let rest = rest.strip_prefix(['P', 'p'])?;
    let (mut months, mut secs, mut ticks) = (0i64, 0i64, 0i64);
    let mut in_time = false;
    let mut num = String::new();
    let mut any = false;
    for ch in rest.chars() {
        match ch {
            '0'..='9' | '.' | ',' => num.push(if ch == ',' { '.' } else { ch }),
            'T' | 't' if num.is_empty() && !in_time => in_time = true,
            _ => {
                if num.is_empty() {
                    return None;
                }
                let unit = ch.to_ascii_uppercase();
                if num.contains('.') {
                    // Fractions only for seconds (what .NET's TimeSpan resolution needs).
                    if !(in_time && unit == 'S') {
                        return None;
                    }
                    let f: f64 = num.parse().ok()?;
                    if !(f.is_finite() && f < 1e12) {
                        return None;
                    }
                    secs = secs.checked_add(f.trunc() as i64)?;
                    ticks += ((f.fract()) * 1e7).round() as i64;
                } else {
                    let n: i64 = num.parse().ok()?;
                    match (in_time, unit) {
                        (false, 'Y') => months = months.checked_add(n.checked_mul(12)?)?,
                        (false, 'M') => months = months.checked_add(n)?,
                        (false, 'W') => secs = secs.checked_add(n.checked_mul(7 * 86400)?)?,
                        (false, 'D') => secs = secs.checked_add(n.checked_mul(86400)?)?,
                        (true, 'H') => secs = secs.checked_add(n.checked_mul(3600)?)?,
                        (true, 'M') => secs = secs.checked_add(n.checked_mul(60)?)?,
                        (true, 'S') => secs = secs.checked_add(n)?,
                        _ => return None,
                    }
                }
                num.clear();
                any = true;
            }
        }
    }
    if !num.is_empty() || !any {
        return None;
    }
    Some(if neg {
        (-months, -secs, -ticks)
    } else {
        (months, secs, ticks)
    })
}

fn add_duration(t: Instant, months: i64, secs: i64, ticks: i64) -> Option<Instant> {
    let mut secs_total = t.secs;
    if months != 0 {
        // Month arithmetic clamps the day, as .NET AddMonths does (Jan 31 + 1 month = Feb 28/29).
        let days = t.secs.div_euclid(86400);
        let sod = t.secs.rem_euclid(86400);
        let (y, m, d) = civil_from_days(days);
        let total = (y.checked_mul(12)?)
            .checked_add(m as i64 - 1)?
            .checked_add(months)?;
        let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
        if !(1..=9999).contains(&ny) {
            return None;
        }
        let nd = d.min(days_in_month(ny, nm));
        secs_total = days_from_civil(ny, nm, nd) * 86400 + sod;
    }
    let mut all_ticks = t.ticks as i64 + ticks;
    let mut s = secs_total.checked_add(secs)?;
    s = s.checked_add(all_ticks.div_euclid(10_000_000))?;
    all_ticks = all_ticks.rem_euclid(10_000_000);
    if !(MIN_SECS..=MAX_SECS).contains(&s) {
        return None;
    }
    Some(Instant {
        secs: s,
        ticks: all_ticks as u32,
    })
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];

/// .NET date formatting: the standard `o`/`O`, `s`, `u`, `d` formats and the custom
/// specifiers `yyyy yy MMMM MMM MM M dddd ddd dd d HH H hh h mm m ss s f… tt K Z` with
/// `'quoted'` and `\` literals.
fn format_datetime(c: Ctx<'_>, t: Instant, fmt: &str) -> Result<String, EvalError> {
    let fmt = match fmt {
        "o" | "O" => "yyyy-MM-ddTHH:mm:ss.fffffffK",
        "s" => "yyyy-MM-ddTHH:mm:ss",
        "u" => "yyyy-MM-dd HH:mm:ssZ",
        "d" => "M/d/yyyy",
        "g" => "M/d/yyyy h:mm tt",
        "G" => "M/d/yyyy h:mm:ss tt",
        f if f.chars().count() == 1 && f.chars().all(|ch| ch.is_ascii_alphabetic()) => {
            return Err(c.err(format!("unsupported date format '{f}'")))
        }
        f => f,
    };
    let days = t.secs.div_euclid(86400);
    let sod = t.secs.rem_euclid(86400);
    let (y, mo, d) = civil_from_days(days);
    let (hh, mi, ss) = (sod / 3600, sod / 60 % 60, sod % 60);
    let weekday = DAYS[days.rem_euclid(7) as usize];
    let chars: Vec<char> = fmt.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        let mut run = 1;
        while i + run < chars.len() && chars[i + run] == ch {
            run += 1;
        }
        match ch {
            'y' => {
                if run <= 2 {
                    let _ = write!(out, "{:0w$}", y % 100, w = run);
                } else {
                    let _ = write!(out, "{:0w$}", y, w = run);
                }
            }
            'M' => match run {
                1 => {
                    let _ = write!(out, "{mo}");
                }
                2 => {
                    let _ = write!(out, "{mo:02}");
                }
                3 => out.push_str(&MONTHS[mo as usize - 1][..3]),
                _ => out.push_str(MONTHS[mo as usize - 1]),
            },
            'd' => match run {
                1 => {
                    let _ = write!(out, "{d}");
                }
                2 => {
                    let _ = write!(out, "{d:02}");
                }
                3 => out.push_str(&weekday[..3]),
                _ => out.push_str(weekday),
            },
            'H' => {
                let _ = write!(out, "{:0w$}", hh, w = run.min(2));
            }
            'h' => {
                let h12 = if hh % 12 == 0 { 12 } else { hh % 12 };
                let _ = write!(out, "{:0w$}", h12, w = run.min(2));
            }
            'm' => {
                let _ = write!(out, "{:0w$}", mi, w = run.min(2));
            }
            's' => {
                let _ = write!(out, "{:0w$}", ss, w = run.min(2));
            }
            'f' | 'F' => {
                let digits = format!("{:07}", t.ticks);
                let part = &digits[..run.min(7)];
                if ch == 'F' {
                    out.push_str(part.trim_end_matches('0'));
                } else {
                    out.push_str(part);
                }
            }
            't' => {
                let ampm = if hh < 12 { "AM" } else { "PM" };
                out.push_str(if run == 1 { &ampm[..1] } else { ampm });
            }
            'K' | 'Z' => {
                out.push('Z');
                run = 1;
            }
            'z' => {
                out.push_str(match run {
                    1 => "+0",
                    2 => "+00",
                    _ => "+00:00",
                });
            }
            '\'' | '"' => {
                let close = chars[i + 1..].iter().position(|&x| x == ch);
                let Some(close) = close else {
                    return Err(c.err("unterminated quoted literal in the date format"));
                };
                out.extend(&chars[i + 1..i + 1 + close]);
                run = close + 2;
            }
            '\\' => {
                if let Some(&next) = chars.get(i + 1) {
                    out.push(next);
                }
                run = 2;
            }
            other => {
                out.extend(std::iter::repeat_n(other, run));
            }
        }
        i += run;
    }
    Ok(out)
}

fn f_date_time_add(c: Ctx<'_>, args: Vec<Value>) -> R {
    let base = c.str(&args, 0)?;
    let dur = c.str(&args, 1)?;
    let Some((t, compact)) = parse_datetime(base) else {
        return Err(c.err(format!("'{base}' is not a date-time (expected ISO 8601)")));
    };
    let Some((months, secs, ticks)) = parse_duration(dur) else {
        return Err(c.err(format!(
            "'{dur}' is not an ISO 8601 duration (like 'P1D' or '-PT3H')"
        )));
    };
    let Some(r) = add_duration(t, months, secs, ticks) else {
        return Err(c.err("the result is outside the years 1 to 9999"));
    };
    match args.get(2) {
        // Without a format the docs keep the base's format; we keep its two ISO shapes.
        None => Ok(string(format_iso(r, compact))),
        Some(_) => Ok(string(format_datetime(c, r, c.str(&args, 2)?)?)),
    }
}

fn f_date_time_from_epoch(c: Ctx<'_>, args: Vec<Value>) -> R {
    let n = c.int(&args, 0)?;
    if !(MIN_SECS..=MAX_SECS).contains(&n) {
        return Err(c.err(format!("{n} is outside the years 1 to 9999")));
    }
    Ok(string(format_iso(Instant { secs: n, ticks: 0 }, false)))
}

fn f_date_time_to_epoch(c: Ctx<'_>, args: Vec<Value>) -> R {
    let s = c.str(&args, 0)?;
    match parse_datetime(s) {
        Some((t, _)) => Ok(Value::Int(t.secs)),
        None => Err(c.err(format!("'{s}' is not a date-time (expected ISO 8601)"))),
    }
}

// ---------------------------------------------------------------------------------------
// cidr

/// A parsed network: address bits, prefix length, and whether it is IPv6.
struct Cidr {
    addr: u128,
    prefix: u32,
    v6: bool,
}

impl Cidr {
    fn bits(&self) -> u32 {
        if self.v6 {
            128
        } else {
            32
        }
    }

    fn mask(&self) -> u128 {
        let host_bits = self.bits() - self.prefix;
        let all = if self.v6 { u128::MAX } else { u32::MAX as u128 };
        if host_bits >= 128 {
            0
        } else {
            all & !((1u128 << host_bits) - 1)
        }
    }

    fn network(&self) -> u128 {
        self.addr & self.mask()
    }

    fn last(&self) -> u128 {
        let all = if self.v6 { u128::MAX } else { u32::MAX as u128 };
        self.network() | (all & !self.mask())
    }

    fn show(&self, a: u128) -> String {
        if self.v6 {
            std::net::Ipv6Addr::from(a).to_string()
        } else {
            std::net::Ipv4Addr::from(a as u32).to_string()
        }
    }

    /// IPv4 reserves the network and broadcast addresses (except in /31 and /32); IPv6 has
    /// no broadcast, so its first usable address is the network address.
    fn usable(&self) -> (u128, u128) {
        if self.v6 || self.prefix >= 31 {
            (self.network(), self.last())
        } else {
            (self.network() + 1, self.last() - 1)
        }
    }
}

fn parse_cidr(c: Ctx<'_>, s: &str) -> Result<Cidr, EvalError> {
    let bad = || {
        c.err(format!(
            "'{s}' is not a network in CIDR notation (like '10.0.0.0/16')"
        ))
    };
    let (ip, prefix) = s.trim().split_once('/').ok_or_else(bad)?;
    let prefix: u32 = prefix.parse().map_err(|_| bad())?;
    if let Ok(v4) = ip.parse::<std::net::Ipv4Addr>() {
        if prefix > 32 {
            return Err(bad());
        }
        return Ok(Cidr {
            addr: u32::from(v4) as u128,
            prefix,
            v6: false,
        });
    }
    if let Ok(v6) = ip.parse::<std::net::Ipv6Addr>() {
        if prefix > 128 {
            return Err(bad());
        }
        return Ok(Cidr {
            addr: u128::from(v6),
            prefix,
            v6: true,
        });
    }
    Err(bad())
}

fn f_parse_cidr(c: Ctx<'_>, args: Vec<Value>) -> R {
    let n = parse_cidr(c, c.str(&args, 0)?)?;
    let (first, last) = n.usable();
    let mut o = vec![
        ("network".into(), node(string(n.show(n.network())))),
        ("netmask".into(), node(string(n.show(n.mask())))),
    ];
    if !n.v6 {
        o.push(("broadcast".into(), node(string(n.show(n.last())))));
    }
    o.push(("firstUsable".into(), node(string(n.show(first)))));
    o.push(("lastUsable".into(), node(string(n.show(last)))));
    o.push(("cidr".into(), node(Value::Int(n.prefix as i64))));
    Ok(Value::Object(o.into()))
}

fn f_cidr_subnet(c: Ctx<'_>, args: Vec<Value>) -> R {
    let n = parse_cidr(c, c.str(&args, 0)?)?;
    let new_prefix = c.int(&args, 1)?;
    let index = c.int(&args, 2)?;
    if new_prefix < n.prefix as i64 || new_prefix > n.bits() as i64 {
        return Err(c.err(format!(
            "newCIDR must be between {} and {}, got {new_prefix}",
            n.prefix,
            n.bits()
        )));
    }
    let extra = new_prefix as u32 - n.prefix;
    let count: u128 = if extra >= 127 {
        u128::MAX
    } else {
        1u128 << extra
    };
    if index < 0 || index as u128 >= count {
        return Err(c.err(format!("subnetIndex {index} is out of range (the network has {count} subnets of /{new_prefix})")));
    }
    let host_bits = n.bits() - new_prefix as u32;
    let step = if host_bits >= 128 {
        0
    } else {
        1u128 << host_bits
    };
    let addr = n.network() + index as u128 * step;
    Ok(string(format!("{}/{new_prefix}", n.show(addr))))
}

fn f_cidr_host(c: Ctx<'_>, args: Vec<Value>) -> R {
    let n = parse_cidr(c, c.str(&args, 0)?)?;
    let index = c.int(&args, 1)?;
    let (first, last) = n.usable();
    if index < 0 || (index as u128) > last - first {
        return Err(c.err(format!(
            "hostIndex {index} is outside the network's usable range"
        )));
    }
    Ok(string(n.show(first + index as u128)))
}

// ---------------------------------------------------------------------------------------
// resource ids

/// Placeholder for a subscription that is not known statically (omitted: the deployment's).
pub const SUBSCRIPTION_PLACEHOLDER: &str = "{subscriptionId}";
/// Placeholder for a resource group that is not known statically.
pub const RESOURCE_GROUP_PLACEHOLDER: &str = "{resourceGroupName}";
/// Placeholder for a management group that is not known statically.
pub const MANAGEMENT_GROUP_PLACEHOLDER: &str = "{managementGroupName}";

/// A scope segment (subscription, resource group): the argument when known, else the
/// placeholder. Unknown scope arguments do not make the id unknown, because the caller links
/// resources by the `providers/…` tail.
fn scope_segment(
    c: Ctx<'_>,
    v: &Value,
    placeholder: &'static str,
    i: usize,
) -> Result<String, EvalError> {
    match v {
        Value::String(s) => Ok(s.to_string()),
        Value::Unknown(_) => Ok(placeholder.to_string()),
        v => Err(c.expected("a string", i, v)),
    }
}

/// Appends `providers/{Namespace}/{type}/{name}[/{childType}/{childName}…]` for a resource
/// type and its names. A name argument containing `/` counts as several names
/// (`'vnet/subnet'`).
fn append_provider_path(
    c: Ctx<'_>,
    out: &mut String,
    args: &[Value],
    type_index: usize,
) -> Result<Option<Unknown>, EvalError> {
    // Azure accepts a trailing slash (`'Microsoft.Network/publicIPAddresses/'`), and many
    // published templates rely on it.
    let ty = c.str(args, type_index)?.trim_end_matches('/');
    let mut segments = ty.split('/');
    let ns = segments.next().unwrap_or_default();
    let types: Vec<&str> = segments.collect();
    if ns.is_empty() || types.is_empty() || types.iter().any(|t| t.is_empty()) {
        return Err(c.err(format!(
            "'{ty}' is not a resource type (like 'Microsoft.Storage/storageAccounts')"
        )));
    }
    let mut names: Vec<String> = Vec::new();
    for (i, v) in args.iter().enumerate().skip(type_index + 1) {
        match v {
            Value::String(s) => names.extend(s.split('/').map(str::to_string)),
            Value::Int(n) => names.push(n.to_string()),
            Value::Unknown(u) => return Ok(Some(u.clone())),
            v => return Err(c.expected("a resource name", i, v)),
        }
    }
    if names.len() != types.len() {
        return Err(c.err(format!(
            "the type '{ty}' needs {} resource name{}, got {}",
            types.len(),
            if types.len() == 1 { "" } else { "s" },
            names.len()
        )));
    }
    out.push_str("/providers/");
    out.push_str(ns);
    for (t, n) in types.iter().zip(&names) {
        out.push('/');
        out.push_str(t);
        out.push('/');
        out.push_str(n);
    }
    Ok(None)
}

/// Index of the resource type among the first `max_scope + 1` arguments: the first string
/// with a `/` (subscription ids and group names have none).
fn type_position(args: &[Value], max_scope: usize) -> Option<usize> {
    args.iter()
        .take(max_scope + 1)
        .position(|v| matches!(v, Value::String(s) if s.contains('/')))
}

fn finish_id(r: Result<Option<Unknown>, EvalError>, out: String) -> R {
    match r? {
        Some(u) => Ok(Value::Unknown(u)),
        None => Ok(string(out)),
    }
}

/// A resource id function's result, except that a shape error is not reported when some
/// argument is unknown: the unknown may be the type, so the arguments were misread.
fn id_or_unknown(args: &[Value], r: R) -> R {
    match (r, args.iter().find_map(as_unknown)) {
        (Err(_), Some(u)) => Ok(Value::Unknown(u.clone())),
        (r, _) => r,
    }
}

/// `resourceId([subscriptionId], [resourceGroupName], type, name1, [name2]…)` →
/// `/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.X/y/name1…`.
/// Omitted or unknown subscription and resource group arguments become the
/// [`SUBSCRIPTION_PLACEHOLDER`] / [`RESOURCE_GROUP_PLACEHOLDER`] literals; unknown types or
/// names make the id Unknown.
pub fn resource_id(args: &[Value]) -> Result<Value, EvalError> {
    let c = Ctx {
        name: "resourceId",
        at: 0,
    };
    if args.len() < 2 {
        return Err(c.arity("at least 2", args.len()));
    }
    let r = f_resource_id_inner(c, args);
    id_or_unknown(args, r)
}

fn f_resource_id(c: Ctx<'_>, args: Vec<Value>) -> R {
    let r = f_resource_id_inner(c, &args);
    id_or_unknown(&args, r)
}

fn f_resource_id_inner(c: Ctx<'_>, args: &[Value]) -> R {
    let Some(t) = type_position(args, 2) else {
        if let Some(u) = args.iter().find_map(as_unknown) {
            return Ok(Value::Unknown(u.clone()));
        }
        return Err(c.err("no resource type argument (like 'Microsoft.Storage/storageAccounts')"));
    };
    let (sub, rg) = match t {
        0 => (
            SUBSCRIPTION_PLACEHOLDER.to_string(),
            RESOURCE_GROUP_PLACEHOLDER.to_string(),
        ),
        1 => (
            SUBSCRIPTION_PLACEHOLDER.to_string(),
            scope_segment(c, &args[0], RESOURCE_GROUP_PLACEHOLDER, 0)?,
        ),
        _ => (
            scope_segment(c, &args[0], SUBSCRIPTION_PLACEHOLDER, 0)?,
            scope_segment(c, &args[1], RESOURCE_GROUP_PLACEHOLDER, 1)?,
        ),
    };
    let mut out = format!("/subscriptions/{sub}/resourceGroups/{rg}");
    let r = append_provider_path(c, &mut out, args, t);
    finish_id(r, out)
}

fn f_subscription_resource_id(c: Ctx<'_>, args: Vec<Value>) -> R {
    let r = f_subscription_resource_id_inner(c, &args);
    id_or_unknown(&args, r)
}

fn f_subscription_resource_id_inner(c: Ctx<'_>, args: &[Value]) -> R {
    let Some(t) = type_position(args, 1) else {
        if let Some(u) = args.iter().find_map(as_unknown) {
            return Ok(Value::Unknown(u.clone()));
        }
        return Err(c.err("no resource type argument (like 'Microsoft.Resources/resourceGroups')"));
    };
    let sub = if t == 1 {
        scope_segment(c, &args[0], SUBSCRIPTION_PLACEHOLDER, 0)?
    } else {
        SUBSCRIPTION_PLACEHOLDER.to_string()
    };
    let mut out = format!("/subscriptions/{sub}");
    let r = append_provider_path(c, &mut out, args, t);
    finish_id(r, out)
}

fn f_tenant_resource_id(c: Ctx<'_>, args: Vec<Value>) -> R {
    if let Value::Unknown(u) = &args[0] {
        return Ok(Value::Unknown(u.clone()));
    }
    let mut out = String::new();
    let r = append_provider_path(c, &mut out, &args, 0);
    finish_id(r, out)
}

fn f_management_group_resource_id(c: Ctx<'_>, args: Vec<Value>) -> R {
    let r = f_management_group_resource_id_inner(c, &args);
    id_or_unknown(&args, r)
}

fn f_management_group_resource_id_inner(c: Ctx<'_>, args: &[Value]) -> R {
    let Some(t) = type_position(args, 1) else {
        if let Some(u) = args.iter().find_map(as_unknown) {
            return Ok(Value::Unknown(u.clone()));
        }
        return Err(c.err("no resource type argument"));
    };
    let mg = if t == 1 {
        scope_segment(c, &args[0], MANAGEMENT_GROUP_PLACEHOLDER, 0)?
    } else {
        MANAGEMENT_GROUP_PLACEHOLDER.to_string()
    };
    let mut out = format!("/providers/Microsoft.Management/managementGroups/{mg}");
    let r = append_provider_path(c, &mut out, args, t);
    finish_id(r, out)
}

fn f_extension_resource_id(c: Ctx<'_>, args: Vec<Value>) -> R {
    let base = match &args[0] {
        Value::String(s) => s.trim_end_matches('/').to_string(),
        Value::Unknown(u) => return Ok(Value::Unknown(u.clone())),
        v => return Err(c.expected("a resource id", 0, v)),
    };
    if let Value::Unknown(u) = &args[1] {
        return Ok(Value::Unknown(u.clone()));
    }
    let mut out = base;
    let r = append_provider_path(c, &mut out, &args, 1);
    finish_id(r, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm::expr::parse;
    use crate::eval::{eval, NoScope};

    fn run(src: &str) -> Result<Value, EvalError> {
        eval(
            &parse(src).unwrap_or_else(|e| panic!("{src}: {e}")),
            &mut NoScope,
        )
    }

    fn ev(src: &str) -> Value {
        run(src).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    fn j(s: &str) -> Value {
        from_json(serde_json::from_str(s).unwrap())
    }

    /// Asserts `src` evaluates to the JSON value `want`.
    #[track_caller]
    fn check(src: &str, want: &str) {
        assert_eq!(ev(src), j(want), "{src}");
    }

    #[track_caller]
    fn fails(src: &str, needle: &str) {
        match run(src) {
            Ok(v) => panic!("{src}: expected an error, got {v:?}"),
            Err(e) => assert!(e.to_string().contains(needle), "{src}: {e}"),
        }
    }

    #[test]
    fn array_functions() {
        check("[array(1)]", "[1]");
        check("[array(createArray(1))]", "[1]");
        check("[array(json('{\"a\":1}'))]", r#"[{"a":1}]"#);
        check("[concat(createArray(1, 2), createArray(3))]", "[1,2,3]");
        fails(
            "[concat(createArray(1), 'a')]",
            "argument 2 must be an array",
        );
        check("[contains(createArray('a', 'b'), 'b')]", "true");
        check("[contains(createArray('a', 'b'), 'B')]", "false");
        check(
            "[contains(createArray(1, createArray(2)), createArray(2))]",
            "true",
        );
        check("[empty(createArray())]", "true");
        check("[empty(null())]", "true");
        check("[empty('')]", "true");
        check("[empty(json('{}'))]", "true");
        check("[first(createArray('x', 'y'))]", r#""x""#);
        check("[first(createArray())]", "null");
        check("[last(createArray('x', 'y'))]", r#""y""#);
        check(
            "[flatten(createArray(createArray(1, 2), createArray(), createArray(3)))]",
            "[1,2,3]",
        );
        fails("[flatten(createArray(1))]", "every item must be an array");
        check("[indexOf(createArray('a', 'b', 'a'), 'a')]", "0");
        check("[lastIndexOf(createArray('a', 'b', 'a'), 'a')]", "2");
        check("[indexOf(createArray('a'), 'A')]", "-1");
        check("[intersection(createArray('a', 'b', 'c'), createArray('b', 'c', 'd'), createArray('c', 'b'))]", r#"["b","c"]"#);
        check("[length(createArray(1, 2, 3))]", "3");
        check("[max(createArray(0, 3, 2, 5, 4))]", "5");
        check("[min(0, 3, -2)]", "-2");
        fails("[max(createArray())]", "empty");
        check("[range(1, 3)]", "[1,2,3]");
        check("[range(5, 0)]", "[]");
        fails("[range(0, 10001)]", "count");
        fails("[range(2147483647, 2)]", "2147483647");
        check("[skip(createArray(1, 2, 3), 2)]", "[3]");
        check("[skip(createArray(1, 2, 3), -1)]", "[1,2,3]");
        check("[take(createArray(1, 2, 3), 5)]", "[1,2,3]");
        check("[take(createArray(1, 2, 3), 0)]", "[]");
        check(
            "[union(createArray('one', 'two'), createArray('two', 'three'))]",
            r#"["one","two","three"]"#,
        );
        check("[tryIndexFromEnd(createArray(1, 2, 3), 1)]", "3");
        check("[tryIndexFromEnd(createArray(1, 2, 3), 4)]", "null");
        check("[tryIndexFromEnd(createArray(1, 2, 3), 0)]", "null");
    }

    #[test]
    fn object_functions() {
        check(
            "[createObject('intProp', 1, 'stringProp', 'abc', 'arrayProp', createArray('a'))]",
            r#"{"intProp":1,"stringProp":"abc","arrayProp":["a"]}"#,
        );
        check("[createObject('a', 1, 'A', 2)]", r#"{"a":2}"#);
        fails("[createObject('a')]", "even number");
        check("[contains(json('{\"One\":1}'), 'one')]", "true");
        check(
            "[intersection(json('{\"a\":1,\"b\":2}'), json('{\"A\":1,\"b\":3}'))]",
            r#"{"a":1}"#,
        );
        check(
            "[items(json('{\"b\":2,\"a\":1}'))]",
            r#"[{"key":"a","value":1},{"key":"b","value":2}]"#,
        );
        check("[json('null')]", "null");
        check("[json('[1, \"x\", true, 1.5]')]", r#"[1,"x",true,1.5]"#);
        fails("[json('{oops')]", "invalid JSON");
        check("[length(json('{\"a\":1,\"b\":2}'))]", "2");
        check("[null()]", "null");
        check("[objectKeys(json('{\"b\":1,\"a\":2}'))]", r#"["b","a"]"#);
        check(
            "[shallowMerge(createArray(json('{\"a\":{\"x\":1},\"b\":1}'), json('{\"a\":{\"y\":2}}')))]",
            r#"{"a":{"y":2},"b":1}"#,
        );
        // union of objects merges nested objects, replaces everything else.
        check(
            "[union(json('{\"a\":{\"x\":1,\"l\":[1]},\"b\":1}'), json('{\"A\":{\"y\":2,\"l\":[2]},\"c\":3}'))]",
            r#"{"a":{"x":1,"l":[2],"y":2},"b":1,"c":3}"#,
        );
        check("[tryGet(json('{\"a\":{\"b\":[5]}}'), 'A', 'b', 0)]", "5");
        check("[tryGet(json('{\"a\":1}'), 'missing')]", "null");
        check("[tryGet(json('{\"a\":null}'), 'a', 'b')]", "null");
    }

    #[test]
    fn comparison_functions() {
        check("[equals('abc', 'abc')]", "true");
        check("[equals('abc', 'ABC')]", "false");
        check("[equals(1, 1)]", "true");
        check(
            "[equals(createArray('a', 'b'), createArray('a', 'b'))]",
            "true",
        );
        check(
            "[equals(json('{\"a\":1,\"b\":2}'), json('{\"B\":2,\"a\":1}'))]",
            "true",
        );
        check("[equals(1, '1')]", "false");
        check("[greater(10, 5)]", "true");
        check("[greater('A', 'a')]", "true");
        check("[less('a', 'A')]", "true");
        check("[less('apple', 'Banana')]", "true");
        check("[greaterOrEquals(5, 5)]", "true");
        check("[lessOrEquals(6, 5)]", "false");
        fails("[greater(1, 'a')]", "can compare");
        check("[coalesce(null(), null(), 'x')]", r#""x""#);
    }

    #[test]
    fn logical_functions() {
        check("[bool('TRUE')]", "true");
        check("[bool(0)]", "false");
        check("[bool(5)]", "true");
        fails("[bool('yes')]", "not 'true'");
        check("[not(true())]", "false");
        check("[and(true, false())]", "false");
        check("[or(false, true)]", "true");
        check("[true()]", "true");
        check("[false()]", "false");
        // The eager library versions behave like the interpreter's.
        let u = || unknown("u");
        assert_eq!(
            call("and", vec![u(), Value::Bool(false)], 0)
                .unwrap()
                .unwrap(),
            Value::Bool(false)
        );
        assert_eq!(
            call("OR", vec![u(), Value::Bool(true)], 0)
                .unwrap()
                .unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            call("if", vec![u(), Value::Int(1), Value::Int(1)], 0)
                .unwrap()
                .unwrap(),
            Value::Int(1)
        );
        assert_eq!(
            call("coalesce", vec![Value::Null, Value::Int(1), u()], 0)
                .unwrap()
                .unwrap(),
            Value::Int(1)
        );
        assert!(matches!(
            call("coalesce", vec![u(), Value::Int(1)], 0),
            Some(Ok(Value::Unknown(_)))
        ));
    }

    #[test]
    fn numeric_functions() {
        check("[add(5, 3)]", "8");
        check("[sub(7, 10)]", "-3");
        check("[mul(-4, 3)]", "-12");
        check("[div(8, 3)]", "2");
        check("[div(-7, 2)]", "-3");
        check("[mod(-7, 3)]", "-1");
        fails("[div(1, 0)]", "division by zero");
        fails("[mod(1, 0)]", "division by zero");
        fails("[div(-9223372036854775808, -1)]", "overflow");
        fails("[mul(9223372036854775807, 2)]", "overflow");
        fails("[sub(-9223372036854775808, 1)]", "overflow");
        check("[int('4')]", "4");
        check("[int(' -12 ')]", "-12");
        fails("[int('4.5')]", "not an integer");
        check("[int(float('2.5'))]", "2");
        check("[float('1.5')]", "1.5");
        check("[add(float('1.5'), 1)]", "2.5");
        check("[max(1, float('2.5'))]", "2.5");
        fails("[add('1', 2)]", "must be a number");
    }

    #[test]
    fn string_functions() {
        check("[base64('one, two, three')]", r#""b25lLCB0d28sIHRocmVl""#);
        check("[base64('')]", r#""""#);
        check("[base64('ab')]", r#""YWI=""#);
        check(
            "[base64ToString('b25lLCB0d28sIHRocmVl')]",
            r#""one, two, three""#,
        );
        check("[base64ToString('YWI')]", r#""ab""#);
        fails("[base64ToString('***')]", "base64");
        check("[base64ToJson(base64('{\"a\":[1]}'))]", r#"{"a":[1]}"#);
        check(
            "[dataUri('Hello')]",
            r#""data:text/plain;charset=utf8;base64,SGVsbG8=""#,
        );
        check(
            "[dataUriToString('data:;base64,SGVsbG8sIFdvcmxkIQ==')]",
            r#""Hello, World!""#,
        );
        check("[dataUriToString('data:text/plain,a%20b')]", r#""a b""#);
        check("[concat('vm', 1, '-', true())]", r#""vm1-True""#);
        check("[contains('OneTwoThree', 'Two')]", "true");
        check("[contains('OneTwoThree', 'two')]", "false");
        check("[endsWith('abcdef', 'EF')]", "true");
        check("[startsWith('abcdef', 'AB')]", "true");
        check("[startsWith('ab', 'abc')]", "false");
        check("[first('One Two')]", r#""O""#);
        check("[last('One Two')]", r#""o""#);
        check("[first('')]", r#""""#);
        check("[indexOf('test', 'T')]", "0");
        check("[indexOf('abcdef', 'CD')]", "2");
        check("[lastIndexOf('abcdefcd', 'cd')]", "6");
        check("[indexOf('abcdef', 'z')]", "-1");
        check("[indexOf('abcdef', '')]", "0");
        check("[join(createArray('a', 'b', 1), ',')]", r#""a,b,1""#);
        check("[length('héllo')]", "5");
        check("[padLeft('123', 10, '0')]", r#""0000000123""#);
        check("[padLeft(7, 3)]", r#""  7""#);
        check("[padLeft('toolong', 3)]", r#""toolong""#);
        fails("[padLeft('x', 5, 'ab')]", "single character");
        fails("[padLeft('x', 100000000)]", "totalLength");
        check("[replace('123-123-1234', '-', '')]", r#""1231231234""#);
        check("[replace('aAa', 'a', 'b')]", r#""bAb""#);
        fails("[replace('a', '', 'b')]", "must not be empty");
        check("[skip('one two three', 4)]", r#""two three""#);
        check("[take('one two', 3)]", r#""one""#);
        check("[split('one,two,three', ',')]", r#"["one","two","three"]"#);
        check(
            "[split('one;two,three', createArray(',', ';'))]",
            r#"["one","two","three"]"#,
        );
        check("[split('a,,b', ',')]", r#"["a","","b"]"#);
        check("[split('', ',')]", r#"[""]"#);
        check(
            "[string(json('{\"valueA\":10,\"valueB\":\"Example Text\"}'))]",
            r#""{\"valueA\":10,\"valueB\":\"Example Text\"}""#,
        );
        check("[string(createArray('a', 'b'))]", r#""[\"a\",\"b\"]""#);
        check("[string(5)]", r#""5""#);
        check("[string(false)]", r#""False""#);
        check("[substring('hello world', 6, 5)]", r#""world""#);
        check("[substring('hello', 2)]", r#""llo""#);
        fails("[substring('hello', 3, 5)]", "within the string");
        fails("[substring('hello', -1)]", "within the string");
        check("[toLower('One Two')]", r#""one two""#);
        check("[toUpper('One Two')]", r#""ONE TWO""#);
        check("[trim('  x y  ')]", r#""x y""#);
        check(
            "[uri('http://contoso.com/resources/', 'nested/azuredeploy.json')]",
            r#""http://contoso.com/resources/nested/azuredeploy.json""#,
        );
        check(
            "[uri('http://contoso.org/firstpath', 'myScript.sh')]",
            r#""http://contoso.org/myScript.sh""#,
        );
        check(
            "[uri('http://contoso.org/firstpath/', '/myScript.sh')]",
            r#""http://contoso.org/firstpath/myScript.sh""#,
        );
        check(
            "[uri('http://contoso.org', 'a.sh')]",
            r#""http://contoso.org/a.sh""#,
        );
        check(
            "[uriComponent('http://contoso.com/resources/nested/azuredeploy.json')]",
            r#""http%3A%2F%2Fcontoso.com%2Fresources%2Fnested%2Fazuredeploy.json""#,
        );
        check(
            "[uriComponentToString('http%3A%2F%2Fcontoso.com%2Fa%20b')]",
            r#""http://contoso.com/a b""#,
        );
        check("[uriComponentToString('100%')]", r#""100%""#);
    }

    #[test]
    fn format_function() {
        check("[format('{0}-{1}', 'a', 2)]", r#""a-2""#);
        check(
            "[format('{0}, {1}. Formatted number: {2:N0}', 'Hello', 'User', 8175133)]",
            r#""Hello, User. Formatted number: 8,175,133""#,
        );
        check("[format('{0:D3}', 7)]", r#""007""#);
        check("[format('{0:D2}', -7)]", r#""-07""#);
        check("[format('{0:N2}', float('-1234.5'))]", r#""-1,234.50""#);
        check("[format('{0:X}', 255)]", r#""FF""#);
        check("[format('{0:x4}', 255)]", r#""00ff""#);
        check("[format('{0:000}', 5)]", r#""005""#);
        check("[format('{0:F1}', 2)]", r#""2.0""#);
        check("[format('{0,4}|{1,-3}|', 'a', 'b')]", r#""   a|b  |""#);
        check("[format('{{literal}} {0}', true)]", r#""{literal} True""#);
        check("[format('{1}{0}{1}', 'a', 'b')]", r#""bab""#);
        fails("[format('{2}', 'a')]", "missing argument");
        fails("[format('{0', 'a')]", "invalid format string");
        fails("[format('a}b')]", "invalid format string");
        fails("[format('{x}', 'a')]", "invalid format item");
    }

    #[test]
    fn hashes_are_deterministic() {
        let a = ev("[uniqueString('rg-1', 'sa')]");
        let Value::String(s) = &a else { panic!() };
        assert_eq!(s.len(), 13);
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)),
            "{s}"
        );
        assert_eq!(a, ev("[uniqueString('rg-1', 'sa')]"));
        assert_ne!(a, ev("[uniqueString('rg-1', 'sb')]"));
        assert_ne!(ev("[uniqueString('a-b')]"), ev("[uniqueString('a', 'c')]"));
        let g = ev("[guid('sub', 'rg', 'name')]");
        let Value::String(s) = &g else { panic!() };
        assert_eq!(s.len(), 36);
        assert_eq!(s.as_bytes()[14], b'5', "{s}");
        assert!(matches!(s.as_bytes()[19], b'8' | b'9' | b'a' | b'b'), "{s}");
        assert_eq!(g, ev("[guid('sub', 'rg', 'name')]"));
        assert_ne!(g, ev("[guid('sub', 'rg', 'other')]"));
        assert!(matches!(
            ev("[guid(subscription().id, 'x')]"),
            Value::Unknown(_)
        ));
        fails("[uniqueString(1)]", "must be a string");
    }

    #[test]
    fn date_functions() {
        check(
            "[dateTimeAdd('2020-04-07 14:53:14Z', 'P3Y')]",
            r#""2023-04-07T14:53:14Z""#,
        );
        check(
            "[dateTimeAdd('2020-04-07T14:53:14Z', '-PT9H')]",
            r#""2020-04-07T05:53:14Z""#,
        );
        check(
            "[dateTimeAdd('2020-04-07T14:53:14Z', 'PT1H30M')]",
            r#""2020-04-07T16:23:14Z""#,
        );
        check(
            "[dateTimeAdd('2020-01-31T00:00:00Z', 'P1M')]",
            r#""2020-02-29T00:00:00Z""#,
        );
        check(
            "[dateTimeAdd('2020-02-29', 'P1Y')]",
            r#""2021-02-28T00:00:00Z""#,
        );
        check(
            "[dateTimeAdd('2020-12-31T23:59:59Z', 'PT1S')]",
            r#""2021-01-01T00:00:00Z""#,
        );
        check(
            "[dateTimeAdd('2020-04-07T14:53:14Z', 'P2W')]",
            r#""2020-04-21T14:53:14Z""#,
        );
        check(
            "[dateTimeAdd('20200407T145314Z', 'P1D')]",
            r#""20200408T145314Z""#,
        );
        check(
            "[dateTimeAdd('2020-04-07T14:53:14+02:00', 'PT0S')]",
            r#""2020-04-07T12:53:14Z""#,
        );
        check(
            "[dateTimeAdd('2020-04-07T14:53:14.5Z', 'PT0.25S')]",
            r#""2020-04-07T14:53:14.75Z""#,
        );
        check(
            "[dateTimeAdd('2020-04-07T14:53:14Z', 'P1D', 'yyyy-MM-dd')]",
            r#""2020-04-08""#,
        );
        check(
            "[dateTimeAdd('2020-04-07T14:53:14Z', 'PT0S', 'M/d/yyyy h:mm:ss tt')]",
            r#""4/7/2020 2:53:14 PM""#,
        );
        check(
            "[dateTimeAdd('2020-04-07T14:53:14Z', 'PT0S', 'dddd, MMMM dd')]",
            r#""Tuesday, April 07""#,
        );
        check(
            "[dateTimeAdd('2020-04-07T14:53:14Z', 'PT0S', 'o')]",
            r#""2020-04-07T14:53:14.0000000Z""#,
        );
        fails("[dateTimeAdd('2020-04-07', 'P1X')]", "duration");
        fails("[dateTimeAdd('yesterday', 'P1D')]", "not a date-time");
        fails("[dateTimeAdd('2020-02-30', 'P1D')]", "not a date-time");
        fails("[dateTimeAdd('9999-12-31', 'P1D')]", "outside the years");
        check(
            "[dateTimeFromEpoch(1683040573)]",
            r#""2023-05-02T15:16:13Z""#,
        );
        check("[dateTimeFromEpoch(0)]", r#""1970-01-01T00:00:00Z""#);
        check("[dateTimeFromEpoch(-86400)]", r#""1969-12-31T00:00:00Z""#);
        check("[dateTimeToEpoch('2023-05-02T15:16:13Z')]", "1683040573");
        check(
            "[dateTimeToEpoch(dateTimeAdd('1970-01-01T00:00:00Z', 'P1D'))]",
            "86400",
        );
        assert!(matches!(
            ev("[dateTimeAdd(utcNow(), 'P1D')]"),
            Value::Unknown(_)
        ));
    }

    #[test]
    fn civil_date_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn cidr_functions() {
        check(
            "[parseCidr('10.144.0.0/20')]",
            r#"{"network":"10.144.0.0","netmask":"255.255.240.0","broadcast":"10.144.15.255","firstUsable":"10.144.0.1","lastUsable":"10.144.15.254","cidr":20}"#,
        );
        check(
            "[parseCidr('fdad:3236:5555::/48')]",
            r#"{"network":"fdad:3236:5555::","netmask":"ffff:ffff:ffff::","firstUsable":"fdad:3236:5555::","lastUsable":"fdad:3236:5555:ffff:ffff:ffff:ffff:ffff","cidr":48}"#,
        );
        check("[parseCidr('10.0.0.5/32').firstUsable]", r#""10.0.0.5""#);
        check("[parseCidr('0.0.0.0/0').broadcast]", r#""255.255.255.255""#);
        check("[cidrSubnet('10.144.0.0/20', 24, 0)]", r#""10.144.0.0/24""#);
        check(
            "[cidrSubnet('10.144.0.0/20', 24, 15)]",
            r#""10.144.15.0/24""#,
        );
        fails("[cidrSubnet('10.144.0.0/20', 24, 16)]", "out of range");
        fails("[cidrSubnet('10.144.0.0/20', 16, 0)]", "newCIDR");
        check(
            "[cidrSubnet('fdad:3236:5555::/48', 52, 1)]",
            r#""fdad:3236:5555:1000::/52""#,
        );
        check("[cidrHost('10.144.3.0/24', 0)]", r#""10.144.3.1""#);
        check("[cidrHost('10.144.3.0/24', 253)]", r#""10.144.3.254""#);
        fails("[cidrHost('10.144.3.0/24', 254)]", "usable range");
        fails("[parseCidr('10.0.0.0')]", "CIDR");
        fails("[parseCidr('10.0.0.0/33')]", "CIDR");
        fails("[parseCidr('300.0.0.0/8')]", "CIDR");
    }

    #[test]
    fn resource_id_functions() {
        check(
            "[resourceId('Microsoft.Storage/storageAccounts', 'sa1')]",
            r#""/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Storage/storageAccounts/sa1""#,
        );
        check(
            "[resourceId('otherRg', 'Microsoft.Storage/storageAccounts', 'sa1')]",
            r#""/subscriptions/{subscriptionId}/resourceGroups/otherRg/providers/Microsoft.Storage/storageAccounts/sa1""#,
        );
        check(
            "[resourceId('00000000-0000-0000-0000-000000000000', 'rg', 'Microsoft.Network/virtualNetworks/subnets', 'vnet', 'sn')]",
            r#""/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/sn""#,
        );
        check(
            "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet/sn')]",
            r#""/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/sn""#,
        );
        // Unknown scope segments become placeholders; an unknown name makes the id unknown.
        check(
            "[resourceId(subscription().subscriptionId, resourceGroup().name, 'Microsoft.Web/sites', 'app')]",
            r#""/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Web/sites/app""#,
        );
        assert!(matches!(
            ev("[resourceId('Microsoft.Web/sites', parameters('name'))]"),
            Value::Unknown(_)
        ));
        // The unknown may be the type: no shape error then.
        assert!(matches!(
            ev("[resourceId(parameters('rg'), variables('type'), 'a/b')]"),
            Value::Unknown(_)
        ));
        fails(
            "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet')]",
            "needs 2 resource names",
        );
        fails("[resourceId('sa1', 'sa2')]", "no resource type");
        check(
            "[subscriptionResourceId('Microsoft.Resources/resourceGroups', 'rg1')]",
            r#""/subscriptions/{subscriptionId}/providers/Microsoft.Resources/resourceGroups/rg1""#,
        );
        check(
            "[subscriptionResourceId('sub1', 'Microsoft.Authorization/roleDefinitions', 'b24988ac')]",
            r#""/subscriptions/sub1/providers/Microsoft.Authorization/roleDefinitions/b24988ac""#,
        );
        check(
            "[tenantResourceId('Microsoft.Authorization/policyDefinitions', 'p1')]",
            r#""/providers/Microsoft.Authorization/policyDefinitions/p1""#,
        );
        check(
            "[managementGroupResourceId('mg1', 'Microsoft.Authorization/policyDefinitions', 'p1')]",
            r#""/providers/Microsoft.Management/managementGroups/mg1/providers/Microsoft.Authorization/policyDefinitions/p1""#,
        );
        check(
            "[extensionResourceId(resourceId('Microsoft.KeyVault/vaults', 'kv'), 'Microsoft.Authorization/locks', 'lock1')]",
            r#""/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.KeyVault/vaults/kv/providers/Microsoft.Authorization/locks/lock1""#,
        );
        assert_eq!(
            resource_id(&[string("Microsoft.Web/sites"), string("a")]).unwrap(),
            string("/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Web/sites/a")
        );
    }

    #[test]
    fn deployment_time_functions_are_unknown() {
        for f in [
            "reference('x')",
            "listKeys('x', '2020-01-01')",
            "listSecrets('x', '2020-01-01')",
            "utcNow()",
            "newGuid()",
            "deployment()",
            "environment()",
            "resourceGroup()",
            "subscription()",
            "tenant()",
            "managementGroup()",
            "pickZones('Microsoft.Compute', 'virtualMachines', 'westus2')",
            "providers('Microsoft.Web')",
            "parameters('p')",
            "variables('v')",
            "copyIndex()",
            "deployer()",
        ] {
            let v = ev(&format!("[{f}]"));
            let Value::Unknown(u) = &v else {
                panic!("{f}: {v:?}")
            };
            assert!(!u.reason.is_empty());
        }
        let Value::Unknown(u) = ev("[parameters('env')]") else {
            panic!()
        };
        assert!(u.reason.contains("parameters('env')"), "{}", u.reason);
        // The first reason is kept through propagation.
        let Value::Unknown(u) = ev("[concat(toLower(utcNow()), parameters('x'))]") else {
            panic!()
        };
        assert!(u.reason.contains("utcNow"), "{}", u.reason);
    }

    #[test]
    fn names_are_case_insensitive_and_arity_is_checked() {
        check("[TOLOWER('A')]", r#""a""#);
        check("[createarray(1)]", "[1]");
        let e = run("[length()]").unwrap_err();
        assert!(
            matches!(&e, EvalError::Arity { function, expected, found: 0, .. } if function == "length" && expected == "1"),
            "{e:?}"
        );
        let e = run("[substring('a')]").unwrap_err();
        assert!(e.to_string().contains("2 to 3"), "{e}");
        let e = run("[concat()]").unwrap_err();
        assert!(e.to_string().contains("at least 1"), "{e}");
        assert!(call("noSuchFunction", vec![], 0).is_none());
        // Arity errors win over unknown arguments.
        assert!(run("[toLower(parameters('a'), 'b')]").is_err());
    }
}
