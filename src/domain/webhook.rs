//! Webhooks as admins describe them: the event types there are, the target address and which
//! addresses a webhook may never reach, and the bodies of the admin routes, parsed once here.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde_json::Value;
use url::{Host, Url};

use super::validation::FieldErrors;

/// Every event type an endpoint can listen to; the database triggers (`sql/V10__webhooks.sql`)
/// emit exactly these names.
pub const EVENT_TYPES: [&str; 7] = [
    "order.created",
    "order.status_changed",
    "order.cancelled",
    "order.delivered",
    "order.assigned",
    "checkout.completed",
    "notification.created",
];

const MAX_URL_BYTES: usize = 2048;
const MAX_DESCRIPTION_CHARS: usize = 500;

/// Whether a webhook may connect to `ip`: not loopback, private, link-local, shared (CGNAT),
/// benchmarking, unspecified, multicast, broadcast, documentation or otherwise reserved space,
/// in IPv4 or IPv6. IPv6 forms that carry an IPv4 address (mapped, compatible, 6to4, NAT64) are
/// judged by that address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 192 && b == 88 && c == 99)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                IpAddr::V4(Ipv4Addr::new(
                    (hi >> 8) as u8,
                    hi as u8,
                    (lo >> 8) as u8,
                    lo as u8,
                ))
            };
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            match s {
                // IPv4-compatible (deprecated), loopback and unspecified among them.
                [0, 0, 0, 0, 0, 0, _, _] => false,
                // 6to4: the IPv4 address follows the prefix.
                [0x2002, hi, lo, ..] => is_public(embedded(hi, lo)),
                // NAT64 (well-known and local-use prefixes): the IPv4 address is last.
                [0x0064, 0xff9b, ..] => false,
                [0x2001, 0x0db8, ..] => false,
                _ => {
                    !(v6.is_multicast()
                        || v6.is_unique_local()
                        || v6.is_unicast_link_local()
                        // Site-local (deprecated, still routed inside some networks).
                        || (s[0] & 0xffc0) == 0xfec0)
                }
            }
        }
    }
}

/// Checks a target address: http or https, a host, no credentials, no fragment, and (unless
/// `allow_private`) no private address written as an IP. Names are checked again after DNS
/// resolution, at every request.
pub fn parse_url(raw: &str, allow_private: bool) -> Result<Url, String> {
    if raw.len() > MAX_URL_BYTES {
        return Err(format!(
            "The url may not be longer than {MAX_URL_BYTES} bytes."
        ));
    }
    let url = Url::parse(raw.trim()).map_err(|_| "The url must be an absolute http(s) URL.")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("The url must start with http:// or https://.".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("The url may not carry a user name or password.".into());
    }
    if url.fragment().is_some() {
        return Err("The url may not have a fragment.".into());
    }
    let ip = match url.host() {
        None => return Err("The url must have a host.".into()),
        Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.');
            if !allow_private && (name == "localhost" || name.ends_with(".localhost")) {
                return Err("The url may not point at this machine.".into());
            }
            None
        }
    };
    if let Some(ip) = ip.filter(|ip| !allow_private && !is_public(*ip)) {
        return Err(format!(
            "The url may not point at a private or reserved address ({ip})."
        ));
    }
    Ok(url)
}

/// The body of `POST /admin/webhooks`, read loosely so a wrong type gets a field message.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct CreateRequest {
    /// Where events are posted: http(s), a public address (unless
    /// `webhooks.allow_private_targets`), no credentials or fragment, at most 2048 bytes.
    #[schema(value_type = String, required = true, max_length = 2048)]
    pub url: Option<Value>,
    /// The event types to send (at least one).
    #[schema(schema_with = events_schema, required = true)]
    pub events: Option<Value>,
    #[schema(value_type = Option<String>, max_length = 500)]
    pub description: Option<Value>,
}

/// The body of `PATCH /admin/webhooks/{id}`: every field optional.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct UpdateRequest {
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub url: Option<Value>,
    #[schema(schema_with = events_schema)]
    pub events: Option<Value>,
    #[schema(value_type = Option<String>, max_length = 500)]
    pub description: Option<Value>,
    #[schema(value_type = Option<bool>)]
    pub enabled: Option<Value>,
    /// Issue a new secret (answered once); the current one keeps signing for
    /// `webhooks.secret_grace_secs`.
    #[schema(value_type = Option<bool>)]
    pub rotate_secret: Option<Value>,
}

/// The schema of an `events` list for the OpenAPI document: at least one of [`EVENT_TYPES`].
fn events_schema() -> utoipa::openapi::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(EVENT_TYPES)),
        )
        .min_items(Some(1))
        .build()
}

/// A new endpoint that passed every rule.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub url: Url,
    pub events: Vec<String>,
    pub description: String,
}

/// What a PATCH changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointChange {
    pub url: Option<Url>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub rotate_secret: bool,
}

impl CreateRequest {
    pub fn parse(self, allow_private: bool) -> Result<NewEndpoint, FieldErrors> {
        let mut errors = FieldErrors::default();
        let url = match self.url {
            None | Some(Value::Null) => {
                errors.add("url", "The url field is required.");
                None
            }
            Some(v) => url_field(&mut errors, v, allow_private),
        };
        let events = match self.events {
            None | Some(Value::Null) => {
                errors.add("events", "The events field is required.");
                None
            }
            Some(v) => events_field(&mut errors, v),
        };
        let description = description_field(&mut errors, self.description).unwrap_or_default();
        match (url, events) {
            (Some(url), Some(events)) => errors.finish(NewEndpoint {
                url,
                events,
                description,
            }),
            _ => Err(errors),
        }
    }
}

impl UpdateRequest {
    pub fn parse(self, allow_private: bool) -> Result<EndpointChange, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut flag = |field: &str, value: Option<Value>| match value {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(b),
            Some(_) => {
                errors.add(field, format!("The {field} field must be true or false."));
                None
            }
        };
        let enabled = flag("enabled", self.enabled);
        let rotate_secret = flag("rotate_secret", self.rotate_secret).unwrap_or(false);
        let change = EndpointChange {
            url: self
                .url
                .and_then(|v| url_field(&mut errors, v, allow_private)),
            events: self.events.and_then(|v| events_field(&mut errors, v)),
            description: description_field(&mut errors, self.description),
            enabled,
            rotate_secret,
        };
        errors.finish(change)
    }
}

fn url_field(errors: &mut FieldErrors, value: Value, allow_private: bool) -> Option<Url> {
    let Value::String(raw) = value else {
        errors.add("url", "The url must be a string.");
        return None;
    };
    parse_url(&raw, allow_private)
        .map_err(|message| errors.add("url", message))
        .ok()
}

/// A non-empty list of known event types; duplicates are dropped, the order kept.
fn events_field(errors: &mut FieldErrors, value: Value) -> Option<Vec<String>> {
    let Value::Array(items) = value else {
        errors.add("events", "The events field must be a list of event types.");
        return None;
    };
    let mut events: Vec<String> = Vec::new();
    for item in items {
        match item.as_str() {
            Some(kind) if EVENT_TYPES.contains(&kind) => {
                if !events.iter().any(|e| e == kind) {
                    events.push(kind.to_string());
                }
            }
            _ => {
                errors.add(
                    "events",
                    format!("Each event must be one of: {}.", EVENT_TYPES.join(", ")),
                );
                return None;
            }
        }
    }
    if events.is_empty() {
        errors.add(
            "events",
            "The events field must name at least one event type.",
        );
        return None;
    }
    Some(events)
}

fn description_field(errors: &mut FieldErrors, value: Option<Value>) -> Option<String> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let s = s.trim().to_string();
            if s.chars().count() > MAX_DESCRIPTION_CHARS {
                errors.add(
                    "description",
                    format!(
                        "The description may not be greater than {MAX_DESCRIPTION_CHARS} characters."
                    ),
                );
            }
            Some(s)
        }
        Some(_) => {
            errors.add("description", "The description must be a string.");
            None
        }
    }
}

/// How long to wait after failed attempt number `attempt` (1, 2, ...): `base` doubling each
/// time up to `max`, less a random part of up to a half (`jitter` in 0..1), so the retries of
/// many deliveries that failed together spread out instead of arriving together.
pub fn retry_delay(attempt: i32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let doublings = attempt.saturating_sub(1).clamp(0, 30) as u32;
    let full = base.saturating_mul(1 << doublings).min(max);
    full.mul_f64(1.0 - 0.5 * jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn private_and_reserved_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "fec0::1",
            "198.18.0.1",
            "192.88.99.1",
            "64:ff9b::8.8.8.8",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700:4700::1111",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn retries_double_up_to_the_cap_with_at_most_half_taken_off() {
        let (base, max) = (Duration::from_secs(5), Duration::from_secs(3600));
        assert_eq!(retry_delay(1, base, max, 0.0), base);
        assert_eq!(retry_delay(4, base, max, 0.0), Duration::from_secs(40));
        assert_eq!(retry_delay(1_000, base, max, 0.0), max);
        assert_eq!(retry_delay(2, base, max, 1.0), Duration::from_secs(5));
        assert_eq!(retry_delay(i32::MIN, base, max, 0.5), base.mul_f64(0.75));
    }

    #[test]
    fn urls_are_checked_at_the_edge() {
        assert!(parse_url("https://hooks.example.com/in?x=1", false).is_ok());
        for bad in [
            "ftp://example.com/",
            "http://user:pw@example.com/",
            "http://127.0.0.1:8080/",
            "http://[::1]/",
            "http://localhost/",
            "http://169.254.169.254/latest",
            "http://0x7f000001/",
            "not a url",
            "http://example.com/#frag",
        ] {
            assert!(parse_url(bad, false).is_err(), "{bad}");
        }
        assert!(parse_url("http://127.0.0.1:8080/", true).is_ok());
        assert!(parse_url(&format!("https://e.com/{}", "a".repeat(3000)), false).is_err());
    }

    #[test]
    fn a_create_request_needs_a_url_and_known_events() {
        let parse = |v: Value| {
            serde_json::from_value::<CreateRequest>(v)
                .unwrap()
                .parse(false)
        };
        let ok =
            parse(json!({"url": "https://e.com/h", "events": ["order.created", "order.created"]}))
                .unwrap();
        assert_eq!(ok.events, vec!["order.created"]);
        let errors = parse(json!({"events": []})).unwrap_err().into_inner();
        assert!(errors.contains_key("url") && errors.contains_key("events"));
        let errors = parse(json!({"url": 5, "events": ["order.exploded"], "description": 1}))
            .unwrap_err()
            .into_inner();
        assert_eq!(errors.len(), 3);
    }
}
