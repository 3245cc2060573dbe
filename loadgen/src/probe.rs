//! Reads a few top-level fields of a JSON frame without building it: what a subscriber needs
//! of every event (its `seq`, and the tag that says when it was sent).
//!
//! A subscriber reads every frame the server sends, tens of thousands a second, and deserializing
//! each with serde_json (even into a struct of two borrowed fields) took about 6% of the
//! generator's CPU once its socket buffers were fixed; this takes under half of that. It walks
//! the top-level object once, stepping over the values of other keys (strings, numbers, nested
//! objects and arrays) without validating or decoding them, and stops as soon as every wanted
//! key has been seen. Nested keys of the same name are not mistaken for the top-level ones, and
//! a quote inside a string is always escaped, so no string's contents can pass for a key either.

/// The raw text of the top-level values of `keys` in the JSON object `json`, by position in
/// `keys`, as written (a string with its quotes and escapes). `None` for a key that is absent,
/// for every key when `json` does not end as an object does (a frame cut short), and for keys
/// past a point where `json` stops being an object. The first of repeated keys wins.
pub fn fields<'a, const N: usize>(json: &'a [u8], keys: [&[u8]; N]) -> [Option<&'a [u8]>; N] {
    let mut found = [None; N];
    let mut left = N;
    let mut at = skip_space(json, 0);
    if json.get(at) != Some(&b'{') || json.trim_ascii_end().last() != Some(&b'}') {
        return found;
    }
    at += 1;
    while left > 0 {
        at = skip_space(json, at);
        let Some(key_end) = (json.get(at) == Some(&b'"'))
            .then(|| string_end(json, at))
            .flatten()
        else {
            break;
        };
        let key = &json[at + 1..key_end - 1];
        at = skip_space(json, key_end);
        if json.get(at) != Some(&b':') {
            break;
        }
        let start = skip_space(json, at + 1);
        let Some(end) = value_end(json, start) else {
            break;
        };
        if let Some(slot) = keys.iter().position(|k| *k == key) {
            if found[slot].is_none() {
                found[slot] = Some(&json[start..end]);
                left -= 1;
            }
        }
        at = skip_space(json, end);
        if json.get(at) != Some(&b',') {
            break;
        }
        at += 1;
    }
    found
}

/// A raw value as an integer, if it is one.
pub fn integer(raw: Option<&[u8]>) -> Option<i64> {
    std::str::from_utf8(raw?).ok()?.parse().ok()
}

/// A raw value's contents if it is a string, its escapes left as they are.
pub fn string(raw: Option<&[u8]>) -> Option<&[u8]> {
    raw?.strip_prefix(b"\"")?.strip_suffix(b"\"")
}

fn skip_space(json: &[u8], mut at: usize) -> usize {
    while json.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

/// The index just past the string that opens at `at` (on its quote); `None` if it never closes.
fn string_end(json: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    loop {
        match json.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
}

/// The index just past the value that starts at `at`; `None` if there is none or it never ends.
fn value_end(json: &[u8], at: usize) -> Option<usize> {
    match json.get(at)? {
        b'"' => string_end(json, at),
        b'{' | b'[' => {
            // Brackets inside strings do not count; the kinds are not matched, only counted.
            let mut depth = 0usize;
            let mut i = at;
            loop {
                match json.get(i)? {
                    b'"' => {
                        i = string_end(json, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        b',' | b'}' | b']' | b':' => None,
        _ => {
            let len = json[at..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace())
                .unwrap_or(json.len() - at);
            Some(at + len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq_and_notes(json: &str) -> (Option<i64>, Option<&str>) {
        let [seq, notes] = fields(json.as_bytes(), [b"seq", b"notes"]);
        (
            integer(seq),
            string(notes).map(|n| std::str::from_utf8(n).unwrap()),
        )
    }

    #[test]
    fn reads_an_order_event() {
        let event = r#"{"type":"order.status","topic":"order:7","order_id":"7","seq":42,"status":"preparing","status_display":"Preparing","notes":"t1234","updated_by":"Load Admin","updated_at":"2026-12-05T21:00:00Z"}"#;
        assert_eq!(seq_and_notes(event), (Some(42), Some("t1234")));
    }

    #[test]
    fn agrees_with_serde_json_on_awkward_frames() {
        let frames = [
            r#" { "notes" : "t5" , "seq" : -3 } "#,
            r#"{"data":{"seq":1,"notes":"t0"},"list":[{"seq":2},"]"],"seq":9}"#,
            r#"{"notes":"a \"seq\":5, \\","seq":6}"#,
            r#"{"x":"}{][","y":[[]],"z":{"a":{}},"seq":7,"notes":null}"#,
            r#"{"seq":null,"notes":"t1"}"#,
            r#"{"seq":"8"}"#,
            r#"{"seq":1.5}"#,
            r#"{"type":"pong"}"#,
            "[1,2]",
            "",
        ];
        for frame in frames {
            let value: serde_json::Value = serde_json::from_str(frame).unwrap_or_default();
            let expected = (
                value["seq"].as_i64(),
                value["notes"].as_str().filter(|n| !n.contains('"')),
            );
            let (seq, notes) = seq_and_notes(frame);
            assert_eq!(
                (seq, notes.filter(|n| !n.contains('"'))),
                expected,
                "{frame}"
            );
        }
    }

    #[test]
    fn stops_at_malformed_input_without_panicking() {
        for frame in [
            r#"{"seq""#,
            r#"{"seq":"#,
            r#"{"seq":4"#,
            r#"{"a":"unterminated"#,
            r#"{"a":{"b":[1,2}"#,
            r#"{"a" 1,"seq":2}"#,
            r#"{"a":,"seq":2}"#,
            r#"{"a":"\"#,
            r#"{"notes":"t1","seq":1"#,
        ] {
            assert_eq!(seq_and_notes(frame), (None, None), "{frame}");
        }
    }

    #[test]
    fn the_first_of_repeated_keys_wins() {
        assert_eq!(seq_and_notes(r#"{"seq":1,"seq":2}"#).0, Some(1));
    }
}
