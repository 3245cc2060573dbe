//! The one way API routes are registered, so the same code that mounts them can also list them.
//!
//! actix-web cannot tell which routes an app has, yet the OpenAPI document must describe exactly
//! those (README "OpenAPI"). Each resource module's `routes` takes a [`Routes`]: mounting, it
//! hands every resource to actix; listing, it only writes down each method and path, which the
//! parity test compares with the document.

use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, Responder};

/// One routed operation: its method and its path as the document writes it (`/orders/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Operation {
    pub path: String,
    /// Upper case: `GET`.
    pub method: String,
}

/// Where resources go: into an actix config, or only onto a list.
pub struct Routes<'a> {
    config: Option<&'a mut web::ServiceConfig>,
    listed: Vec<Operation>,
}

impl<'a> Routes<'a> {
    pub fn mount(config: &'a mut web::ServiceConfig) -> Self {
        Routes {
            config: Some(config),
            listed: Vec::new(),
        }
    }

    pub fn list() -> Self {
        Routes {
            config: None,
            listed: Vec::new(),
        }
    }

    /// The operations registered so far, sorted.
    pub fn operations(mut self) -> Vec<Operation> {
        self.listed.sort();
        self.listed
    }

    /// Registers the resource at `path` (actix syntax: `{id:\d+}` matches digits only) with the
    /// methods `build` gives it.
    pub fn resource(&mut self, path: &str, build: impl FnOnce(Resource) -> Resource) -> &mut Self {
        let resource = build(Resource {
            inner: web::resource(path),
            methods: Vec::new(),
        });
        let documented = documented_path(path);
        self.listed
            .extend(resource.methods.into_iter().map(|method| Operation {
                path: documented.clone(),
                method: method.to_string(),
            }));
        if let Some(config) = self.config.as_deref_mut() {
            config.service(resource.inner);
        }
        self
    }
}

/// One path and the handler for each of its methods.
pub struct Resource {
    inner: actix_web::Resource,
    methods: Vec<Method>,
}

impl Resource {
    pub fn route<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.inner = self.inner.route(web::method(method.clone()).to(handler));
        self.methods.push(method);
        self
    }
}

/// Shorthands, one per method the API uses.
macro_rules! methods {
    ($($name:ident => $method:ident),*) => {
        impl Resource {
            $(
                pub fn $name<F, Args>(self, handler: F) -> Self
                where
                    F: Handler<Args>,
                    Args: FromRequest + 'static,
                    F::Output: Responder + 'static,
                {
                    self.route(Method::$method, handler)
                }
            )*
        }
    };
}

methods!(get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE);

/// An actix path as OpenAPI writes it: `{id:\d+}` becomes `{id}` (our patterns hold no braces).
fn documented_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let (mut in_braces, mut in_pattern) = (false, false);
    for c in path.chars() {
        match c {
            '{' => in_braces = true,
            '}' => (in_braces, in_pattern) = (false, false),
            ':' if in_braces => in_pattern = true,
            _ => {}
        }
        if !in_pattern {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::documented_path;

    #[test]
    fn patterns_are_dropped_from_parameters() {
        assert_eq!(documented_path("/orders/{id:\\d+}"), "/orders/{id}");
        assert_eq!(
            documented_path("/orders/{id:\\d+}/share-links/{link_id:\\d+}"),
            "/orders/{id}/share-links/{link_id}"
        );
        assert_eq!(documented_path("/products/{key}"), "/products/{key}");
        assert_eq!(documented_path("/cart"), "/cart");
    }
}
