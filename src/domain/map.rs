//! The map tiles a site may configure (`map.tile_url`): what the pages' CSP must then allow.

/// The origin (`https://tiles.example.com`) of an XYZ tile template, or `None` when the template
/// is not an http(s) URL with `{z}`, `{x}` and `{y}` and nothing a CSP header could be broken by.
pub fn tile_origin(template: &str) -> Option<&str> {
    let rest = template
        .strip_prefix("https://")
        .or_else(|| template.strip_prefix("http://"))?;
    let host_len = rest.find('/')?;
    let host = &rest[..host_len];
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    let safe = template
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\'' | b'\\'));
    let placeholders = ["{z}", "{x}", "{y}"].iter().all(|p| template.contains(p));
    (host_ok && safe && placeholders).then(|| &template[..template.len() - rest.len() + host_len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_origin_of_a_good_template_and_refuses_the_rest() {
        assert_eq!(
            tile_origin("https://tiles.example.com/{z}/{x}/{y}.png"),
            Some("https://tiles.example.com")
        );
        assert_eq!(
            tile_origin("http://127.0.0.1:8081/t/{z}/{x}/{y}"),
            Some("http://127.0.0.1:8081")
        );
        for bad in [
            "",
            "tiles/{z}/{x}/{y}.png",
            "javascript:alert(1)//{z}{x}{y}",
            "https://a.example/{z}/{x}.png",
            "https://a.example;script-src */{z}/{x}/{y}",
            "https://a.example/{z}/{x}/{y} img-src *",
            "https:///{z}/{x}/{y}",
        ] {
            assert_eq!(tile_origin(bad), None, "{bad}");
        }
    }
}
