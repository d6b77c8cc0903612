//! ARM template expressions: `arm::expr::parse` and `eval::eval` with no scope.
//! The first byte picks whether the text is wrapped in `[` `]` (half the time).
#![no_main]

use basegate::arm::expr::{Expr, ExprKind};
use libfuzzer_sys::fuzz_target;

fn check(src: &str, e: &Expr) {
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        let (s, t) = (e.start as usize, e.end as usize);
        assert!(
            s <= t && t <= src.len(),
            "expr span {s}..{t} out of {}",
            src.len()
        );
        assert!(
            src.is_char_boundary(s) && src.is_char_boundary(t),
            "expr span {s}..{t} not on char boundaries"
        );
        let n = e.name_offset() as usize;
        assert!(n <= src.len(), "name offset past the end");
        match &e.kind {
            ExprKind::Call { args, .. } => stack.extend(args.iter()),
            ExprKind::Member(b, _) => stack.push(b),
            ExprKind::Index(a, b) => {
                stack.push(a);
                stack.push(b);
            }
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let body = String::from_utf8_lossy(rest);
    let src = if mode & 1 == 0 {
        format!("[{body}]")
    } else {
        body.into_owned()
    };
    match basegate::arm::expr::parse(&src) {
        Ok(expr) => {
            check(&src, &expr);
            let _ = basegate::eval::eval(&expr, &mut basegate::eval::NoScope);
        }
        Err(e) => assert!(e.offset as usize <= src.len(), "error offset past the end"),
    }
});
