//! The OpenAPI 3.1 document of the JSON API, served at `/api/openapi.json` (README "OpenAPI").
//!
//! Each handler describes itself with `#[utoipa::path]` beside its code; this module gathers
//! them, and holds what they share: the envelope, the error answers, the security schemes and
//! the answers that the outer layers give on every route (bad input, oversized requests, rate
//! limits, an unavailable database), added to every operation here so no handler repeats them.
//! The paths are relative to the servers `/api` and `/api/v1`, which serve the same routes; the
//! route list of `http::api` and this document are compared by `tests/api/openapi.rs`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder, ServerBuilder};
use utoipa::{IntoParams, Modify, OpenApi, PartialSchema, ToResponse, ToSchema};

use super::pagination::PageMeta;
use super::routes::Routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "order-tracker",
        description = "Real-time order tracking: accounts, orders and their status, share links, \
                       dispatch, notifications, products, warehouses, stock, carts and webhooks. \
                       Every JSON answer is an envelope: `Success` or `Failure`. Live updates \
                       travel over WebSocket (`GET /api/ws` here; `/ws`, `/ws/orders/{id}` and \
                       `/ws/track/{token}` outside the API prefix, README \"WebSocket protocol\") \
                       and as Server-Sent Events (the `/events` operations); webhooks post them \
                       signed (README \"Webhooks\")."
    ),
    paths(
        super::auth::register,
        super::auth::login,
        super::auth::logout_everywhere,
        super::auth::change_role,
        super::auth::me,
        super::auth::update_me,
        super::totp::setup,
        super::totp::verify,
        super::totp::disable,
        super::tracking::active,
        super::tracking::history,
        super::tracking::timeline,
        super::tracking::submit_feedback,
        super::tracking::status,
        super::orders::create,
        super::orders::list_own,
        super::orders::list_by_status,
        super::orders::detail,
        super::orders::delete,
        super::orders::update_status,
        super::orders::update_payment,
        super::orders::history,
        super::share_links::create,
        super::share_links::list,
        super::share_links::revoke,
        super::share_links::track,
        super::dispatch::drivers,
        super::dispatch::my_orders,
        super::dispatch::assign,
        super::dispatch::claim,
        super::dispatch::location,
        super::dispatch::trail,
        super::admin::all_orders,
        super::admin::active,
        super::admin::stats,
        super::admin::analytics,
        super::admin::update_tracking,
        super::webhooks::create,
        super::webhooks::list,
        super::webhooks::detail,
        super::webhooks::update,
        super::webhooks::delete,
        super::webhooks::deliveries,
        super::webhooks::redeliver,
        super::sse::order_events,
        super::sse::shared_events,
        super::sse::own_events,
        super::notifications::list,
        super::notifications::send,
        super::notifications::unread_count,
        super::notifications::read_all,
        super::notifications::read_one,
        super::products::create,
        super::products::list,
        super::products::by_id_or_name,
        super::products::replace,
        super::products::patch,
        super::products::delete,
        super::warehouses::create,
        super::warehouses::list,
        super::warehouses::detail,
        super::warehouses::replace,
        super::warehouses::patch,
        super::warehouses::delete,
        super::warehouse_stocks::create,
        super::warehouse_stocks::list,
        super::warehouse_stocks::bulk_update,
        super::warehouse_stocks::by_warehouse,
        super::warehouse_stocks::update,
        super::warehouse_stocks::delete,
        super::cart::list,
        super::cart::add_item,
        super::cart::delete_item,
        super::cart::delete_cart,
        super::map::map,
        super::ws::own_notifications,
        document,
    ),
    components(
        schemas(Failure),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            RequestTimeout,
            PayloadTooLarge,
            UriTooLong,
            UnsupportedMediaType,
            Unprocessable,
            TooManyRequests,
            HeadersTooLarge,
            Internal,
            Unavailable,
        )
    ),
    security(("bearer" = [])),
    modifiers(&EveryRoute),
)]
pub struct ApiDoc;

/// The document, built once.
fn json() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .expect("the document serializes")
    })
}

pub fn routes(routes: &mut Routes) {
    routes.resource("/openapi.json", |r| r.get(document));
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "Documentation",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(json())
}

/// The envelope of `http::envelope`, as the document describes it.
///
/// Every successful answer but a page of a list; `data` is what the operation describes.
#[derive(ToSchema)]
pub struct Success<T> {
    /// Always `success`.
    #[schema(pattern = "^success$", example = "success")]
    pub status: String,
    /// Always `true`.
    #[schema(example = true)]
    pub success: bool,
    /// What happened, in the caller's language.
    pub message: String,
    pub data: T,
}

/// A page of a list, and where it is in the whole.
#[derive(ToSchema)]
pub struct Paged<T> {
    /// Always `success`.
    #[schema(pattern = "^success$", example = "success")]
    pub status: String,
    /// Always `true`.
    #[schema(example = true)]
    pub success: bool,
    /// What happened, in the caller's language.
    pub message: String,
    pub data: Vec<T>,
    pub meta: PageMeta,
}

/// Every error answer, whatever layer gave it.
#[derive(ToSchema)]
pub struct Failure {
    /// Always `error`.
    #[schema(pattern = "^error$", example = "error")]
    pub status: String,
    /// Always `false`.
    #[schema(example = false)]
    pub success: bool,
    /// What went wrong; never an internal detail.
    pub message: String,
    /// The same text as `message`.
    pub error: String,
    /// Validation failures only: messages per field.
    pub errors: Option<BTreeMap<String, Vec<String>>>,
    /// Details of some refusals, such as `short` (the products a checkout lacks).
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
}

/// A numeric id in the path.
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct Id(pub i64);

/// Declares an error answer once: a response component in the `Failure` envelope, with the
/// headers it carries (`+ LIMITED`), referenced by the operations that can give it.
macro_rules! error_responses {
    ($($name:ident $(+ $headers:ident)? => $description:literal;)*) => {
        $(
            #[doc = $description]
            pub struct $name;

            impl ToResponse<'static> for $name {
                fn response() -> (&'static str, RefOr<Response>) {
                    let headers = error_responses!(@headers $($headers)?);
                    (stringify!($name), failure($description, headers).into())
                }
            }
        )*
    };
    (@headers) => { &[] };
    (@headers $headers:ident) => { &$headers };
}

/// The headers of a 503: when to come back.
const RETRY: [(&str, &str); 1] = [("Retry-After", "Seconds to wait")];

/// The headers of a 429: when to come back, and the rate limit's window (`RateLimit-*` come
/// with every answer while `rate_limit.enabled`; a throttle's 429 carries them too).
const LIMITED: [(&str, &str); 4] = [
    RETRY[0],
    ("RateLimit-Limit", "Requests a window allows"),
    ("RateLimit-Remaining", "Requests left in this window"),
    ("RateLimit-Reset", "Seconds until the window starts again"),
];

error_responses! {
    BadRequest => "Bad input: malformed JSON, a field of the wrong type or invalid value \
                   (`errors` names each), a NUL character anywhere, or a malformed request";
    Unauthorized => "No token, or one that is invalid, expired or revoked";
    Forbidden => "The caller's role may not do this";
    NotFound => "No such resource, or one the caller may not see (another user's order \
                 answers 404, never its data)";
    Conflict => "The current state forbids it: an illegal status transition, a duplicate, \
                 insufficient stock";
    RequestTimeout => "The request body did not arrive in time";
    PayloadTooLarge => "The request body is larger than `server.max_body_bytes`";
    UriTooLong => "The URL is longer than 8 KiB";
    UnsupportedMediaType => "The body is not `application/json`";
    Unprocessable => "Well-formed but refused by a rule (feedback before delivery, a wrong \
                      code or password)";
    TooManyRequests + LIMITED => "Rate limited or throttled; `Retry-After` says how many \
                                        seconds to wait";
    HeadersTooLarge => "The request headers are too large";
    Internal => "An unexpected failure; details are logged, never answered";
    Unavailable + RETRY => "The database cannot be reached; retry after `Retry-After` \
                                    seconds";
}

fn failure(description: &str, headers: &[(&str, &str)]) -> Response {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Failure")))
            .build(),
    );
    for (name, meaning) in headers {
        let header = HeaderBuilder::new()
            .schema(u64::schema())
            .description(Some(*meaning))
            .build();
        response = response.header(*name, header);
    }
    response.build()
}

/// What the layers in front of every handler add: the security scheme, the servers, and the
/// answers any operation can give.
struct EveryRoute;

impl Modify for EveryRoute {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        doc.servers = Some(
            ["/api", "/api/v1"]
                .into_iter()
                .map(|url| ServerBuilder::new().url(url).build())
                .collect(),
        );
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "The token from `POST /login` (or `POST /totp/verify/{id}`), as \
                 `Authorization: Bearer <token>`. A WebSocket handshake may also carry it as the \
                 subprotocol pair `order-tracker, bearer.<token>` or as `?token=`, since browsers \
                 cannot set headers on one.",
            ))
            .build();
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(bearer));
        for (path, item) in doc.paths.paths.iter_mut() {
            let operations = [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("patch", &mut item.patch),
            ];
            for (method, operation) in operations {
                if let Some(operation) = operation {
                    operation.operation_id = Some(operation_id(method, path));
                    add_common_answers(operation);
                }
            }
        }
    }
}

/// A unique id from the method and path (handler names repeat across modules, and one handler
/// may serve two methods): `patch_orders_id_status`.
fn operation_id(method: &str, path: &str) -> String {
    let words = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty());
    std::iter::once(method)
        .chain(words)
        .collect::<Vec<_>>()
        .join("_")
}

/// The component name of an error response.
fn named<R: ToResponse<'static>>() -> &'static str {
    R::response().0
}

fn add_common_answers(operation: &mut Operation) {
    // Public operations say `security(())`: an empty requirement, no token needed.
    let public = operation.security.as_deref() == Some(&[SecurityRequirement::default()]);
    let has_body = operation.request_body.is_some();
    let answers = [
        ("400", named::<BadRequest>(), true),
        ("401", named::<Unauthorized>(), !public),
        ("408", named::<RequestTimeout>(), true),
        ("413", named::<PayloadTooLarge>(), true),
        ("414", named::<UriTooLong>(), true),
        ("415", named::<UnsupportedMediaType>(), has_body),
        ("429", named::<TooManyRequests>(), true),
        ("431", named::<HeadersTooLarge>(), true),
        ("500", named::<Internal>(), true),
        ("503", named::<Unavailable>(), true),
    ];
    for (status, name, applies) in answers {
        if applies {
            operation
                .responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
        }
    }
}
