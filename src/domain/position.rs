//! Where a driver is and where an order goes: parsing positions and destinations once at the
//! edge, the distance between two points, and the ETA model.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::validation::FieldErrors;

/// A position older than this is refused: subscribers want where the driver is, not was.
pub const MAX_AGE: Duration = Duration::minutes(1);
/// Clocks differ a little; a position this far in the future is still taken as now.
pub const CLOCK_SKEW: Duration = Duration::seconds(5);
/// Faster than this (m/s, about 250 km/h) is a broken sensor, not a delivery.
pub const MAX_SPEED: f64 = 70.0;
/// An accuracy radius past this (metres) says nothing about where the driver is.
pub const MAX_ACCURACY: f64 = 100_000.0;

/// A point on the earth, in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Point {
    pub lat: f64,
    pub lng: f64,
}

/// One report of where a driver is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Position {
    pub lat: f64,
    pub lng: f64,
    /// Metres, as the device reports it.
    pub accuracy: Option<f64>,
    /// Degrees clockwise from north.
    pub heading: Option<f64>,
    /// Metres per second.
    pub speed: Option<f64>,
    pub at: DateTime<Utc>,
}

impl Position {
    pub fn point(&self) -> Point {
        Point {
            lat: self.lat,
            lng: self.lng,
        }
    }
}

/// A position as a client sends it, over REST or the socket: numbers read loosely, so each
/// mistake gets its own field message.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct PositionRequest {
    /// Degrees, -90 to 90.
    #[schema(value_type = f64, required = true)]
    pub lat: Option<Value>,
    /// Degrees, -180 to 180.
    #[schema(value_type = f64, required = true)]
    pub lng: Option<Value>,
    /// Metres.
    #[schema(value_type = Option<f64>)]
    pub accuracy: Option<Value>,
    /// Degrees from north.
    #[schema(value_type = Option<f64>)]
    pub heading: Option<Value>,
    /// Metres per second.
    #[schema(value_type = Option<f64>)]
    pub speed: Option<Value>,
    /// When it was measured, RFC 3339 (default: now).
    #[schema(value_type = Option<String>)]
    pub at: Option<Value>,
}

impl PositionRequest {
    /// The position, if every number is finite and in range and `at` is within the last
    /// minute (absent: `now`).
    pub fn parse(self, now: DateTime<Utc>) -> Result<Position, FieldErrors> {
        let mut errors = FieldErrors::default();
        let lat = number(&mut errors, "lat", self.lat, -90.0..=90.0, true);
        let lng = number(&mut errors, "lng", self.lng, -180.0..=180.0, true);
        let accuracy = number(
            &mut errors,
            "accuracy",
            self.accuracy,
            0.0..=MAX_ACCURACY,
            false,
        );
        let heading = number(&mut errors, "heading", self.heading, 0.0..=360.0, false);
        let speed = number(&mut errors, "speed", self.speed, 0.0..=MAX_SPEED, false);
        let at = match self.at {
            None | Some(Value::Null) => now,
            Some(Value::String(s)) => match DateTime::parse_from_rfc3339(s.trim()) {
                Ok(at) => {
                    let at = at.with_timezone(&Utc);
                    if at > now + CLOCK_SKEW {
                        errors.add("at", "The position's time is in the future.");
                    } else if at < now - MAX_AGE {
                        errors.add("at", "The position is older than a minute.");
                    }
                    at.min(now)
                }
                Err(_) => {
                    errors.add("at", "The time must be an RFC 3339 date and time.");
                    now
                }
            },
            Some(_) => {
                errors.add("at", "The time must be an RFC 3339 date and time.");
                now
            }
        };
        errors.finish(Position {
            lat: lat.unwrap_or_default(),
            lng: lng.unwrap_or_default(),
            accuracy,
            heading,
            speed,
            at,
        })
    }
}

/// An order's destination from `delivery_lat` and `delivery_lng`: both or neither.
pub fn destination(
    errors: &mut FieldErrors,
    lat: Option<Value>,
    lng: Option<Value>,
) -> Option<Point> {
    let given = |v: &Option<Value>| !matches!(v, None | Some(Value::Null));
    if given(&lat) != given(&lng) {
        errors.add(
            "delivery_lat",
            "The delivery latitude and longitude go together.",
        );
        return None;
    }
    let lat = number(errors, "delivery_lat", lat, -90.0..=90.0, false)?;
    let lng = number(errors, "delivery_lng", lng, -180.0..=180.0, false)?;
    Some(Point { lat, lng })
}

/// A JSON number in `range`; strings, non-finite and out-of-range values get a message.
fn number(
    errors: &mut FieldErrors,
    field: &str,
    value: Option<Value>,
    range: std::ops::RangeInclusive<f64>,
    required: bool,
) -> Option<f64> {
    match value {
        None | Some(Value::Null) => {
            if required {
                errors.add(field, format!("The {field} field is required."));
            }
            None
        }
        Some(Value::Number(n)) => match n.as_f64() {
            Some(x) if x.is_finite() && range.contains(&x) => Some(x),
            _ => {
                errors.add(
                    field,
                    format!(
                        "The {field} must be between {} and {}.",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        },
        Some(_) => {
            errors.add(field, format!("The {field} must be a number."));
            None
        }
    }
}

/// Mean radius of the earth in metres.
const EARTH_RADIUS: f64 = 6_371_000.0;

/// Great-circle distance in metres (haversine).
pub fn distance(a: Point, b: Point) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlng = (b.lng - a.lng).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlng / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS * h.sqrt().asin()
}

/// The ETA model: the remaining straight-line distance over the recent speed.
///
/// - Each position's speed is what the device reports, else the distance from the previous
///   position over the time between them.
/// - The recent speed is an exponential moving average of those (`SPEED_WEIGHT` for the newest).
/// - It never counts below `MIN_SPEED` (a driver waiting at a light still arrives), nor above
///   `MAX_SPEED`.
/// - Within `ARRIVED` metres, the ETA is now.
pub struct Eta {
    /// The moving average of speed, m/s; `None` before the first position.
    speed: Option<f64>,
    last: Option<Position>,
}

/// Weight of the newest speed in the moving average.
pub const SPEED_WEIGHT: f64 = 0.3;
/// Slowest speed the model assumes, m/s (about 11 km/h, city traffic at its worst).
pub const MIN_SPEED: f64 = 3.0;
/// Speed assumed before any is known, m/s (about 25 km/h).
pub const DEFAULT_SPEED: f64 = 7.0;
/// Closer than this (metres), the driver has arrived.
pub const ARRIVED: f64 = 50.0;

impl Default for Eta {
    fn default() -> Self {
        Eta::new()
    }
}

impl Eta {
    pub fn new() -> Self {
        Eta {
            speed: None,
            last: None,
        }
    }

    /// Takes a new position; out-of-order ones (older than the last) are ignored.
    pub fn observe(&mut self, p: &Position) {
        let measured = match (p.speed, self.last) {
            (Some(s), _) => Some(s),
            (None, Some(prev)) if p.at > prev.at => {
                let secs = (p.at - prev.at).num_milliseconds() as f64 / 1000.0;
                Some(distance(prev.point(), p.point()) / secs)
            }
            _ => None,
        };
        if self.last.is_some_and(|prev| p.at < prev.at) {
            return;
        }
        if let Some(m) = measured.filter(|m| m.is_finite()) {
            let m = m.min(MAX_SPEED);
            self.speed = Some(match self.speed {
                Some(avg) => avg + SPEED_WEIGHT * (m - avg),
                None => m,
            });
        }
        self.last = Some(*p);
    }

    /// When the driver should reach `to`, from the last position.
    pub fn estimate(&self, to: Point) -> Option<DateTime<Utc>> {
        let last = self.last?;
        let metres = distance(last.point(), to);
        if metres <= ARRIVED {
            return Some(last.at);
        }
        let speed = self.speed.unwrap_or(DEFAULT_SPEED).max(MIN_SPEED);
        Some(last.at + Duration::milliseconds((metres / speed * 1000.0) as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str, now: DateTime<Utc>) -> Result<Position, FieldErrors> {
        serde_json::from_str::<PositionRequest>(json)
            .unwrap()
            .parse(now)
    }

    #[test]
    fn takes_a_good_position_and_refuses_each_bad_number() {
        let now = Utc::now();
        let p = parse(r#"{"lat":-6.2,"lng":106.8,"accuracy":12,"speed":8}"#, now).unwrap();
        assert_eq!((p.lat, p.lng, p.at), (-6.2, 106.8, now));
        for bad in [
            r#"{"lng":106.8}"#,
            r#"{"lat":91,"lng":0}"#,
            r#"{"lat":0,"lng":-180.5}"#,
            r#"{"lat":"0","lng":0}"#,
            r#"{"lat":0,"lng":0,"speed":-1}"#,
            r#"{"lat":0,"lng":0,"speed":1e308}"#,
            r#"{"lat":0,"lng":0,"heading":361}"#,
            r#"{"lat":0,"lng":0,"accuracy":-3}"#,
            r#"{"lat":0,"lng":0,"at":"yesterday"}"#,
            r#"{"lat":0,"lng":0,"at":12}"#,
        ] {
            assert!(parse(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_times_in_the_future_or_over_a_minute_old() {
        let now = Utc::now();
        let at = |t: DateTime<Utc>| format!(r#"{{"lat":0,"lng":0,"at":"{}"}}"#, t.to_rfc3339());
        assert!(parse(&at(now - Duration::seconds(30)), now).is_ok());
        assert!(parse(&at(now + Duration::seconds(2)), now).is_ok());
        assert!(parse(&at(now + Duration::seconds(30)), now).is_err());
        assert!(parse(&at(now - Duration::seconds(61)), now).is_err());
    }

    #[test]
    fn a_destination_needs_both_coordinates_in_range() {
        let mut errors = FieldErrors::default();
        let d = destination(&mut errors, Some(1.5.into()), Some(100.into()));
        assert_eq!(
            d,
            Some(Point {
                lat: 1.5,
                lng: 100.0
            })
        );
        assert!(destination(&mut errors, None, None).is_none());
        assert!(errors.finish(()).is_ok());
        let mut errors = FieldErrors::default();
        destination(&mut errors, Some(1.into()), None);
        assert!(errors.finish(()).is_err());
        let mut errors = FieldErrors::default();
        destination(&mut errors, Some(95.into()), Some(0.into()));
        assert!(errors.finish(()).is_err());
    }

    #[test]
    fn distance_matches_a_known_one() {
        // Monas to Bundaran HI, Jakarta: about 2.1 km.
        let d = distance(
            Point {
                lat: -6.1754,
                lng: 106.8272,
            },
            Point {
                lat: -6.1950,
                lng: 106.8230,
            },
        );
        assert!((2000.0..2300.0).contains(&d), "{d}");
    }

    #[test]
    fn eta_is_distance_over_recent_speed_with_a_floor() {
        let start = Utc::now();
        let to = Point {
            lat: 0.0,
            lng: 0.01,
        }; // about 1112 m east of the origin
        let mut eta = Eta::new();
        eta.observe(&Position {
            lat: 0.0,
            lng: 0.0,
            accuracy: None,
            heading: None,
            speed: Some(10.0),
            at: start,
        });
        let secs = (eta.estimate(to).unwrap() - start).num_seconds();
        assert!((105..=118).contains(&secs), "{secs}");
        // Standing still: the floor keeps the ETA finite.
        for i in 1..30 {
            eta.observe(&Position {
                lat: 0.0,
                lng: 0.0,
                accuracy: None,
                heading: None,
                speed: Some(0.0),
                at: start + Duration::seconds(i),
            });
        }
        let secs = (eta.estimate(to).unwrap() - start).num_seconds();
        assert!((29 + 360..=29 + 375).contains(&secs), "{secs}");
        // Speed derived from successive positions when the device reports none.
        let mut derived = Eta::new();
        for i in 0..5 {
            derived.observe(&Position {
                lat: 0.0,
                lng: 0.0001 * f64::from(i) * 10.0, // about 111 m per 10 s
                accuracy: None,
                heading: None,
                speed: None,
                at: start + Duration::seconds(10 * i64::from(i)),
            });
        }
        assert!((derived.speed.unwrap() - 11.1).abs() < 0.5);
        // Arrived.
        assert_eq!(
            derived.estimate(Point {
                lat: 0.0,
                lng: 0.004
            }),
            Some(start + Duration::seconds(40))
        );
    }
}
