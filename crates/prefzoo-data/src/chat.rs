//! HF chat templates rendered with minijinja, set up as transformers 4.48 sets up Jinja2 in
//! `_compile_jinja_template` and `apply_chat_template`:
//!
//! - `trim_blocks` and `lstrip_blocks` on, the trailing newline not kept (Jinja2's default);
//! - `{% break %}` / `{% continue %}` (the `loopcontrols` extension; minijinja feature
//!   `loop_controls`); `{% generation %} … {% endgeneration %}` (transformers' assistant-mask
//!   extension, which renders its body unchanged) is kept as a block that renders its body;
//! - Python string and dict methods (`.strip()`, `.startswith()`, `.items()`, …) through
//!   minijinja-contrib's pycompat;
//! - Python's notion of whitespace (`str.isspace`, which unlike Rust's `char::is_whitespace`
//!   includes the separators U+001C–U+001F) in the `trim` filter and in `.strip()`,
//!   `.lstrip()`, `.rstrip()`, `.split()` without a separator and `.isspace()`; Python's line
//!   boundaries (`\r`, `\v`, `\f`, U+001C–U+001E, U+0085, U+2028, U+2029 besides `\n`) in
//!   `.splitlines()`;
//! - Jinja2's tests `iterable` (`None` is not: Gemma 3's template raises "Invalid content type"
//!   for `content: null`, minijinja would iterate it as empty) and `sequence` (strings and
//!   dicts are: they have `len` and `[]`);
//! - `tojson` as transformers overrides it: Python's `json.dumps` (see [`crate::pyjson`]);
//! - globals `raise_exception(msg)` (an error) and `strftime_now(fmt)` (the current time; UTC
//!   here, the machine's local time in transformers);
//! - variables `messages`, `add_generation_prompt`, `tools = None`, `documents = None`, and the
//!   tokenizer's special tokens that are set (`bos_token`, `eos_token`, `unk_token`,
//!   `pad_token`, `additional_special_tokens`); an unset one is undefined, as in transformers;
//! - `None`, `True` and `False` print as Python prints them.
//!
//! One limit transformers does not have: a render may spend [`RENDER_FUEL`] of minijinja's
//! fuel (about one unit per instruction and per 64 bytes of data), so a template that loops
//! for ever or builds gigabytes (`range(100000)` inside `range(100000)`, `'x' * 2**60`) fails
//! with an error instead of hanging or aborting the run; real chat templates use a few
//! thousand units per conversation. `tojson`'s `indent` is likewise limited to
//! [`MAX_TOJSON_INDENT`] spaces (found by the fuzz harness, crates/prefzoo-fuzz: a huge
//! indent aborted the process allocating it).
//!
//! Known difference: JSON objects reach the template with their keys sorted (serde_json without
//! `preserve_order`), so a template that iterates over a message's keys, or `tojson`s a record
//! object, sees them in sorted rather than file order. Chat templates index messages by key
//! (`message['content']`), which is unaffected. Others, outside what chat templates use (found
//! by rendering probes with transformers 4.51.3's Jinja2): floats from 1e16 up print in full
//! (Python: `1e+16`), the `truncate` and `wordcount` filters do not exist, and `int` / `float`
//! of a non-numeric string are errors (Jinja2: 0 / 0.0).

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, Serde, StringInput, Value as JValue, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Output, State};
use serde_json::Value;

use crate::error::{DataError, Result};
use crate::pyjson::{DumpOptions, dumps};

/// The fuel one render may spend (see the module docs): ~10M instructions, or ~640 MB of data.
pub const RENDER_FUEL: u64 = 10_000_000;

/// The largest `tojson(indent=…)` accepted, in spaces (Python accepts any, and then allocates).
pub const MAX_TOJSON_INDENT: usize = 1_000;

/// The special-token strings a template sees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateTokens {
    /// `bos_token`.
    pub bos: Option<String>,
    /// `eos_token`.
    pub eos: Option<String>,
    /// `unk_token`.
    pub unk: Option<String>,
    /// `pad_token`.
    pub pad: Option<String>,
    /// `additional_special_tokens`.
    pub additional: Vec<String>,
}

/// A compiled chat template.
#[derive(Clone)]
pub struct ChatTemplate {
    env: Arc<Environment<'static>>,
    source: Arc<str>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("chars", &self.source.len())
            .finish()
    }
}

impl ChatTemplate {
    /// Compiles `source` with transformers' Jinja settings.
    pub fn new(source: &str) -> Result<Self> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(false)
            .build()
            .map_err(|e| DataError::Template(e.to_string()))?;
        env.set_syntax(syntax);
        env.set_fuel(Some(RENDER_FUEL));
        env.set_unknown_method_callback(python_methods);
        env.set_formatter(python_formatter);
        env.add_filter("trim", trim);
        env.add_test("iterable", is_iterable);
        env.add_test("sequence", is_sequence);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", |fmt: String| strftime_now(&fmt));
        env.add_filter("tojson", tojson);
        env.add_template_owned("chat", rewrite_generation_tags(source))
            .map_err(|e| DataError::Template(format!("does not compile: {e}")))?;
        Ok(Self {
            env: Arc::new(env),
            source: Arc::from(source),
        })
    }

    /// The template's source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders `messages` as `tokenizer.apply_chat_template(messages, tokenize=False,
    /// add_generation_prompt=…)` does.
    pub fn render(
        &self,
        messages: &[Value],
        add_generation_prompt: bool,
        tokens: &TemplateTokens,
    ) -> Result<String> {
        let t = self
            .env
            .get_template("chat")
            .map_err(|e| DataError::Template(e.to_string()))?;
        let mut ctx: BTreeMap<&str, JValue> = BTreeMap::new();
        ctx.insert("messages", JValue::from(Serde(messages)));
        ctx.insert("add_generation_prompt", JValue::from(add_generation_prompt));
        ctx.insert("tools", JValue::from(()));
        ctx.insert("documents", JValue::from(()));
        let named = [
            ("bos_token", &tokens.bos),
            ("eos_token", &tokens.eos),
            ("unk_token", &tokens.unk),
            ("pad_token", &tokens.pad),
        ];
        for (name, token) in named {
            if let Some(s) = token {
                ctx.insert(name, JValue::from(s.as_str()));
            }
        }
        if !tokens.additional.is_empty() {
            ctx.insert(
                "additional_special_tokens",
                JValue::from(Serde(&tokens.additional)),
            );
        }
        t.render(JValue::from(ctx))
            .map_err(|e| DataError::Template(format!("rendering failed: {e:#}")))
    }
}

/// Python's `str.isspace` for one character: Unicode whitespace plus the information
/// separators U+001C–U+001F, which Python counts and Rust's `char::is_whitespace` does not.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// A line boundary of Python's `str.splitlines` (`\r\n` is handled by the caller).
fn is_py_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{1c}'
            ..='\u{1e}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// Python's `s.split(None, maxsplit)`: runs of whitespace separate, ends are ignored, and after
/// `maxsplit` splits the rest (leading whitespace removed) is the last item.
fn py_split_whitespace(s: &str, maxsplit: Option<usize>) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s.trim_start_matches(is_py_space);
    while !rest.is_empty() {
        if maxsplit == Some(out.len()) {
            out.push(rest);
            break;
        }
        match rest.find(is_py_space) {
            Some(i) => {
                out.push(&rest[..i]);
                rest = rest[i..].trim_start_matches(is_py_space);
            }
            None => {
                out.push(rest);
                break;
            }
        }
    }
    out
}

/// Python's `s.splitlines(keepends)`.
fn py_splitlines(s: &str, keepends: bool) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if !is_py_line_break(c) {
            continue;
        }
        let mut end = i + c.len_utf8();
        if c == '\r' && chars.peek().is_some_and(|&(_, n)| n == '\n') {
            chars.next();
            end += 1;
        }
        out.push(&s[start..if keepends { end } else { i }]);
        start = end;
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// An argument that is absent or `None` (Python's default for `chars` / `sep`).
fn absent(args: &[JValue], i: usize) -> bool {
    args.get(i)
        .is_none_or(|v| matches!(v.kind(), ValueKind::None | ValueKind::Undefined))
}

/// pycompat's Python methods, with the string methods whose whitespace or line-break rules
/// differ from Rust's done as Python does them.
fn python_methods(
    state: &mut State,
    value: &JValue,
    method: &str,
    args: &[JValue],
) -> std::result::Result<JValue, Error> {
    if let Some(s) = value.as_str() {
        let too_many = |n: usize| {
            Error::new(
                ErrorKind::TooManyArguments,
                format!("str.{method} takes at most {n} arguments"),
            )
        };
        match method {
            "strip" | "lstrip" | "rstrip" if absent(args, 0) => {
                if args.len() > 1 {
                    return Err(too_many(1));
                }
                return Ok(JValue::from(match method {
                    "strip" => s.trim_matches(is_py_space),
                    "lstrip" => s.trim_start_matches(is_py_space),
                    _ => s.trim_end_matches(is_py_space),
                }));
            }
            "split" if absent(args, 0) => {
                if args.len() > 2 {
                    return Err(too_many(2));
                }
                let maxsplit = match args.get(1) {
                    Some(n) if !n.is_none() => usize::try_from(i64::try_from(n.clone())?).ok(),
                    _ => None,
                };
                return Ok(py_split_whitespace(s, maxsplit)
                    .into_iter()
                    .map(JValue::from)
                    .collect());
            }
            "splitlines" => {
                if args.len() > 1 {
                    return Err(too_many(1));
                }
                let keepends = args.first().is_some_and(JValue::is_true);
                return Ok(py_splitlines(s, keepends)
                    .into_iter()
                    .map(JValue::from)
                    .collect());
            }
            "isspace" if args.is_empty() => {
                return Ok(JValue::from(!s.is_empty() && s.chars().all(is_py_space)));
            }
            _ => {}
        }
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

/// Jinja2's `trim(value, chars=None)`: `str(value).strip(chars)`, with Python's whitespace.
fn trim(
    state: &State,
    value: &JValue,
    chars: Option<JValue>,
) -> std::result::Result<JValue, Error> {
    let input = StringInput::new(state, value)?;
    let s = input.as_str();
    let out = match chars.as_ref().and_then(JValue::as_str) {
        Some(set) => s.trim_matches(|c| set.contains(c)),
        None if chars
            .as_ref()
            .is_none_or(|c| c.is_none() || c.is_undefined()) =>
        {
            s.trim_matches(is_py_space)
        }
        None => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "trim: chars must be a string or None",
            ));
        }
    };
    Ok(input.preserve_safety(out.to_owned()))
}

/// Jinja2's `iterable` test (`iter(value)` succeeds): strings, lists, dicts and undefined
/// values are; `None`, numbers and booleans are not.
fn is_iterable(value: &JValue) -> bool {
    !value.is_none() && value.try_iter().is_ok()
}

/// Jinja2's `sequence` test (the value has `len` and `[]`): lists, strings, dicts, ranges
/// and undefined values.
fn is_sequence(value: &JValue) -> bool {
    value.is_undefined() || value.len().is_some()
}

fn raise_exception(msg: String) -> std::result::Result<String, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, msg))
}

/// Jinja2 prints Python values: `None`, `True`, `False`; undefined prints nothing.
fn python_formatter(
    out: &mut Output,
    state: &mut State,
    value: &JValue,
) -> std::result::Result<(), Error> {
    let text = match value.kind() {
        ValueKind::None => "None",
        ValueKind::Bool if value.is_true() => "True",
        ValueKind::Bool => "False",
        _ => return minijinja::escape_formatter(out, state, value),
    };
    out.write_str(text).map_err(Error::from)
}

/// transformers' `tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`.
fn tojson(value: &JValue, kwargs: Kwargs) -> std::result::Result<String, Error> {
    let mut opts = DumpOptions::default();
    if let Some(b) = kwargs.get::<Option<bool>>("ensure_ascii")? {
        opts.ensure_ascii = b;
    }
    if let Some(ind) = kwargs.get::<Option<JValue>>("indent")? {
        opts.indent = match ind.kind() {
            ValueKind::None | ValueKind::Undefined => None,
            ValueKind::String => Some(ind.as_str().unwrap_or_default().to_owned()),
            _ => {
                let n = usize::try_from(i64::try_from(ind)?).unwrap_or(0);
                if n > MAX_TOJSON_INDENT {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!("tojson: indent = {n} is more than {MAX_TOJSON_INDENT} spaces"),
                    ));
                }
                Some(" ".repeat(n))
            }
        };
    }
    if let Some(seps) = kwargs.get::<Option<Vec<String>>>("separators")? {
        if let [item, key] = seps.as_slice() {
            opts.separators = Some((item.clone(), key.clone()));
        } else {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "tojson: separators must be an (item, key) pair",
            ));
        }
    }
    if let Some(b) = kwargs.get::<Option<bool>>("sort_keys")? {
        opts.sort_keys = b;
    }
    kwargs.assert_all_used()?;
    dumps(value, &opts)
}

/// `{% generation %}` / `{% endgeneration %}` (any whitespace control) become an always-true
/// `if` block, so the body renders unchanged and the tags strip whitespace as block tags do.
fn rewrite_generation_tags(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{%") {
        out.push_str(&rest[..start]);
        let tag = &rest[start..];
        let Some(end) = tag[2..].find("%}").map(|i| i + 2) else {
            break;
        };
        let inner = &tag[2..end];
        let (open, body) = match inner.strip_prefix(['-', '+']) {
            Some(b) => (&inner[..1], b),
            None => ("", inner),
        };
        let (body, close) = match body.strip_suffix(['-', '+']) {
            Some(b) => (b, &body[b.len()..]),
            None => (body, ""),
        };
        let replacement = match body.trim() {
            "generation" => Some("if true"),
            "endgeneration" => Some("endif"),
            _ => None,
        };
        match replacement {
            Some(r) => out.push_str(&format!("{{%{open} {r} {close}%}}")),
            None => out.push_str(&tag[..end + 2]),
        }
        rest = &tag[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The current UTC time formatted with the strftime codes chat templates use
/// (`%Y %y %m %d %e %b %B %a %A %H %M %S %j %%`).
fn strftime_now(fmt: &str) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    format_time(secs, fmt)
}

/// `fmt` applied to `secs` since the Unix epoch (UTC).
fn format_time(secs: i64, fmt: &str) -> String {
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
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    const CUM: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = CUM[(month - 1) as usize] + day + i64::from(leap && month > 2);
    let mname = MONTHS[(month - 1) as usize];
    let dname = DAYS[days.rem_euclid(7) as usize];
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&year.to_string()),
            Some('y') => out.push_str(&format!("{:02}", year.rem_euclid(100))),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('e') => out.push_str(&format!("{day:>2}")),
            Some('j') => out.push_str(&format!("{yday:03}")),
            Some('b') => out.push_str(&mname[..3]),
            Some('B') => out.push_str(mname),
            Some('a') => out.push_str(&dname[..3]),
            Some('A') => out.push_str(dname),
            Some('H') => out.push_str(&format!("{:02}", rem / 3600)),
            Some('M') => out.push_str(&format!("{:02}", rem % 3600 / 60)),
            Some('S') => out.push_str(&format!("{:02}", rem % 60)),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(src: &str, msgs: Value, tokens: &TemplateTokens) -> Result<String> {
        let list = msgs.as_array().cloned().unwrap_or_default();
        ChatTemplate::new(src)?.render(&list, false, tokens)
    }

    /// A template that loops 10¹⁰ times hung the run (found by the fuzz harness), a huge
    /// `tojson` indent aborted it allocating 2⁶⁰ bytes (found writing the harness's inputs);
    /// their inputs are in crates/prefzoo-fuzz/regressions/chat/. Both are errors now, and a
    /// real template's indent still renders.
    #[test]
    fn runaway_templates_are_errors() {
        let msgs = json!([{"role": "user", "content": "hi"}]);
        let t = TemplateTokens::default();
        for src in [
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "{{ 'ab' * 1152921504606846976 }}",
            "{{ messages[0] | tojson(indent=1152921504606846976) }}",
        ] {
            assert!(render(src, msgs.clone(), &t).is_err(), "{src}");
        }
        assert_eq!(
            render("{{ messages[0] | tojson(indent=1) }}", msgs, &t).unwrap(),
            "{\n \"content\": \"hi\",\n \"role\": \"user\"\n}"
        );
    }

    #[test]
    fn python_whitespace_and_lines() {
        let ws = "\u{1c}\u{1d}\u{1e}\u{1f}\u{85}\u{a0}\u{3000}\u{2028} \t\n\r\u{0b}\u{0c}";
        assert!(ws.chars().all(is_py_space));
        assert!(!"\u{200b}\u{180e}x".chars().any(is_py_space));
        assert_eq!(
            py_split_whitespace("  a\u{1c} b  c ", None),
            ["a", "b", "c"]
        );
        assert_eq!(py_split_whitespace("  a b  c ", Some(1)), ["a", "b  c "]);
        assert_eq!(py_split_whitespace(" a ", Some(0)), ["a "]);
        assert_eq!(py_split_whitespace("a ", Some(1)), ["a"]);
        assert!(py_split_whitespace(" \u{1f} ", None).is_empty());
        assert_eq!(
            py_splitlines("a\rb\r\nc\u{1c}d\u{2029}\n", false),
            ["a", "b", "c", "d", ""]
        );
        assert_eq!(py_splitlines("a\r\nb", true), ["a\r\n", "b"]);
        assert!(py_splitlines("", false).is_empty());
    }

    /// The expected text is what transformers 4.51.3's Jinja2 environment renders.
    #[test]
    fn python_string_methods_filters_and_tests() {
        let src = "{% set c = messages[0].content %}[{{ c | trim }}|{{ c.strip() }}|{{ c.lstrip() }}|\
                   {{ c.rstrip() }}|{{ c.split() | join(',') }}|{{ c.split(none, 1) | join(',') }}|\
                   {{ c.splitlines() | length }}|{{ c.isspace() }}|{{ c | trim(' \\x1c') }}|\
                   {{ c.strip('\\x1cb ') }}|{{ c.split('a') | length }}]\
                   {% for m in messages[1:] %}{{ m.content is iterable }}{{ m.content is sequence }}{% endfor %}";
        let msgs = json!([
            {"role": "user", "content": "\u{1c} a\u{1d}b \u{1f}"},
            {"role": "user", "content": null},
            {"role": "user", "content": 1},
            {"role": "user", "content": "s"},
            {"role": "user", "content": {"a": 1}},
            {"role": "user", "content": []},
            {"role": "user"}
        ]);
        assert_eq!(
            render(src, msgs, &TemplateTokens::default()).unwrap(),
            "[a\u{1d}b|a\u{1d}b|a\u{1d}b \u{1f}|\u{1c} a\u{1d}b|a,b|a,b \u{1f}|3|False|\
             a\u{1d}b \u{1f}|a\u{1d}b \u{1f}|2]\
             FalseFalseFalseFalseTrueTrueTrueTrueTrueTrueTrueTrue"
        );
    }

    #[test]
    fn time_formatting() {
        // 2024-07-26 13:25:09 UTC was a Friday, day 208 of a leap year.
        let t = 1_722_000_309;
        assert_eq!(format_time(t, "%d %b %Y %H:%M:%S"), "26 Jul 2024 13:25:09");
        assert_eq!(
            format_time(t, "%A %a %j %e %y %%"),
            "Friday Fri 208 26 24 %"
        );
        assert_eq!(format_time(0, "%Y-%m-%d %A"), "1970-01-01 Thursday");
    }

    #[test]
    fn python_methods_values_and_raise_exception() {
        let src = "{% for m in messages %}{% if m.role not in ['user','assistant'] %}\
                   {{ raise_exception('bad role') }}{% endif %}{{ m.content.strip() }}|\
                   {{ m.get('name') }}|{{ m.content.startswith(' ') }}{% endfor %}";
        let ok = json!([{"role": "user", "content": "  hi "}]);
        assert_eq!(
            render(src, ok, &TemplateTokens::default()).unwrap(),
            "hi|None|True"
        );
        let bad = json!([{"role": "tool", "content": "x"}]);
        let e = render(src, bad, &TemplateTokens::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad role"), "{e}");
    }

    #[test]
    fn tojson_is_python_json_dumps() {
        let src = "{{ messages[0] | tojson }}#{{ messages[0] | tojson(indent=2) }}\
                   #{{ messages[0].content | tojson(ensure_ascii=True) }}";
        let msgs = json!([{"content": "<é>", "role": "user"}]);
        assert_eq!(
            render(src, msgs, &TemplateTokens::default()).unwrap(),
            "{\"content\": \"<é>\", \"role\": \"user\"}#{\n  \"content\": \"<é>\",\n  \"role\": \"user\"\n}\
             #\"<\\u00e9>\""
        );
    }

    #[test]
    fn generation_blocks_and_undefined_tokens() {
        let src = "{% for m in messages %}{%- generation -%} {{ m.content }} {%- endgeneration %}\
                   {% endfor %}{{ bos_token is defined }}";
        let msgs = json!([{"role": "assistant", "content": "a"}]);
        assert_eq!(
            render(src, msgs.clone(), &TemplateTokens::default()).unwrap(),
            "aFalse"
        );
        let tokens = TemplateTokens {
            bos: Some("<s>".into()),
            ..Default::default()
        };
        assert_eq!(render(src, msgs, &tokens).unwrap(), "aTrue");
        assert_eq!(
            rewrite_generation_tags("x{%+ generation %}y{% endgeneration -%}z{% if a %}"),
            "x{%+ if true %}y{% endif -%}z{% if a %}"
        );
        assert_eq!(
            rewrite_generation_tags("{%}{%-%}{% generation"),
            "{%}{%-%}{% generation"
        );
    }
}
