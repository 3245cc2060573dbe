//! The HTTP client webhooks are sent with. Unless `webhooks.allow_private_targets` is set it
//! reaches public addresses only: every DNS answer is filtered (so a name that resolves, or is
//! later re-pointed, to an internal address gets nowhere), IP literals are checked before
//! sending, redirects are followed only within the same scheme, host and port (and only those
//! that repeat the POST), and no proxy from the environment is used.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect::Policy;
use url::{Host, Url};

use crate::config::WebhookSettings;
use crate::domain::webhook::is_public;

/// Redirects one request may follow, all on its own origin.
const MAX_REDIRECTS: usize = 3;

pub fn build(settings: &WebhookSettings) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(settings.timeout_secs))
        .connect_timeout(Duration::from_secs(settings.timeout_secs))
        .redirect(same_origin_redirects())
        .no_proxy()
        .user_agent(concat!(
            "order-tracker-webhooks/",
            env!("CARGO_PKG_VERSION")
        ));
    if !settings.allow_private_targets {
        builder = builder.dns_resolver(Arc::new(PublicOnly));
    }
    builder.build()
}

/// Whether `url` may be requested as far as can be told without DNS: a host written as an IP
/// must be public. Names are checked by the resolver.
pub fn literal_target_allowed(url: &Url, allow_private: bool) -> bool {
    allow_private
        || match url.host() {
            Some(Host::Ipv4(ip)) => is_public(ip.into()),
            Some(Host::Ipv6(ip)) => is_public(ip.into()),
            Some(Host::Domain(_)) => true,
            None => false,
        }
}

/// Follows 307 and 308 within the origin, which repeat the POST with its body. A 301, 302 or
/// 303 would be followed with a GET and no body, and its answer would count as delivered when
/// the event never arrived: those are not followed (the attempt fails).
fn same_origin_redirects() -> Policy {
    Policy::custom(|attempt| {
        let keeps_body = matches!(attempt.status().as_u16(), 307 | 308);
        let first = attempt.previous().first().cloned();
        let same_origin = first.is_some_and(|first| {
            first.scheme() == attempt.url().scheme()
                && first.host_str() == attempt.url().host_str()
                && first.port_or_known_default() == attempt.url().port_or_known_default()
        });
        if keeps_body && same_origin && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// DNS through the system resolver, keeping public addresses only.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}
