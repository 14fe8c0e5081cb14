//! The deterministic case generator's building blocks: a small seeded RNG (SplitMix64, so a
//! case is a pure function of `(seed, index)` with no dependency on `rand`'s stream
//! guarantees), byte-level mutations of real inputs, and the hostile fragments they insert
//! (huge numbers, NaN spellings, deep nesting, odd Unicode, HH and Jinja markers).

/// SplitMix64: tiny, fast and fully determined by its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// The generator of case `index` of run `seed`.
    pub fn for_case(seed: u64, index: u64) -> Self {
        let mut r = Rng(seed ^ index.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }

    /// One element of `items` (which must not be empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Fragments that break parsers: numbers out of every range, NaN and infinity spellings,
/// escapes, Unicode edge cases, markers of the HH and Jinja syntaxes, TOML and JSON syntax.
pub const HOSTILE: &[&str] = &[
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "\\uDFFF",
    "null",
    "true",
    "[]",
    "{}",
    ",",
    ":",
    "-1",
    "0",
    "-0",
    "1e999",
    "-1e999",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "18446744073709551616",
    "18446744073709551615",
    "9223372036854775808",
    "-9223372036854775809",
    "4294967296",
    "1152921504606846976",
    "99999999999999999999999999999999999999",
    "0.000000000000000000000000000001",
    "1.7976931348623157e308",
    "é",
    "𝄞",
    "\u{202e}",
    "\u{feff}",
    "\u{0}",
    "\u{1c}",
    "\u{2028}",
    "\r\n",
    "\n",
    "\n\nHuman:",
    "\n\nAssistant:",
    "\n\nAssistant: ",
    "{%",
    "%}",
    "{{",
    "}}",
    "{#",
    "{% generation %}",
    "{% endgeneration %}",
    "{% for m in messages %}",
    "{% endfor %}",
    "{% if %}",
    "{{ raise_exception('x') }}",
    "|tojson",
    "=",
    "[[",
    "]]",
    "'''",
    "\"\"\"",
    "#",
    "\u{fffd}",
];

/// `n` opening brackets (or braces) and, half the time, their closing ones: deep nesting.
pub fn nesting(rng: &mut Rng) -> String {
    let depth = [64, 200, 1_000, 5_000, 20_000][rng.below(5)];
    let (open, close) = if rng.chance(1, 2) {
        ("[", "]")
    } else {
        ("{\"a\":", "}")
    };
    let mut s = open.repeat(depth);
    if rng.chance(1, 2) {
        s.push('1');
        s.push_str(&close.repeat(depth));
    }
    s
}

/// Applies 1–4 random byte-level mutations to `data`; `other` is a second real input to
/// splice from.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    let n = 1 + rng.below(4);
    for _ in 0..n {
        let len = data.len();
        match rng.below(11) {
            // Flip one bit.
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            // Overwrite a byte with an interesting one.
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.pick(&[
                    0u8, 0xff, b'"', b'{', b'[', b'\n', b'\\', b'9', b'-', b'.', 0x80, b'}', b']',
                    b',', b':',
                ]);
            }
            // Truncate.
            2 if len > 0 => data.truncate(rng.below(len)),
            // Delete a range.
            3 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(16)).min(len);
                data.drain(a..b);
            }
            // Duplicate a range.
            4 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                let copy = data[a..b].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, copy);
            }
            // Splice in a piece of another input.
            5 if !other.is_empty() => {
                let a = rng.below(other.len());
                let b = (a + 1 + rng.below(256)).min(other.len());
                let at = rng.below(len + 1);
                if rng.chance(1, 2) {
                    data.truncate(at);
                }
                data.extend_from_slice(&other[a..b]);
            }
            // Insert deep nesting.
            6 => {
                let at = rng.below(len + 1);
                let s = nesting(rng);
                data.splice(at..at, s.into_bytes());
            }
            // Replace a run of digits with a huge or odd number.
            7 => {
                if let Some(start) = (0..len)
                    .map(|k| (k + rng.below(len.max(1))) % len.max(1))
                    .take(32)
                    .find(|&i| data.get(i).is_some_and(u8::is_ascii_digit))
                {
                    let mut end = start;
                    while end < len && data[end].is_ascii_digit() {
                        end += 1;
                    }
                    let number = rng.pick(&[
                        "18446744073709551616",
                        "1152921504606846976",
                        "4294967295",
                        "-1",
                        "0",
                        "1e308",
                        "NaN",
                        "99999999999",
                    ]);
                    data.splice(start..end, number.bytes());
                }
            }
            // Random bytes.
            8 => {
                let at = rng.below(len + 1);
                let k = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..k).map(|_| rng.next_u64() as u8).collect();
                data.splice(at..at, bytes);
            }
            // Insert a hostile fragment.
            _ => {
                let at = rng.below(len + 1);
                let s = rng.pick(HOSTILE);
                data.splice(at..at, s.bytes());
            }
        }
    }
}

/// A short random string: words, hostile fragments, or long runs.
pub fn text(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => String::new(),
        1 => (rng.pick(HOSTILE)).to_owned(),
        2 => "x".repeat(rng.below(3_000)),
        3 => (0..rng.below(6))
            .map(|_| rng.pick(HOSTILE))
            .collect::<String>(),
        _ => {
            let words = [
                "hello",
                " the",
                " answer",
                " is",
                " 42",
                " é",
                " 日本",
                " ok",
                "\n",
                " <s>",
                "<|endoftext|>",
                "<|im_start|>",
                " ",
                "?",
                "Human:",
                "Assistant:",
            ];
            (0..1 + rng.below(8))
                .map(|_| words[rng.below(words.len())])
                .collect()
        }
    }
}
