//! The YAML schema, validated while it is deserialized.
//!
//! Validation lives inside `Deserialize` impls (rather than in a pass over the
//! finished values) because only there does serde_norway know where the node
//! came from: an error returned here gets the node's line and column attached.
//! Names of tests and checks are checked against lists the caller supplies,
//! which reach the impls through a thread-local set by [`with_known`].

use std::cell::RefCell;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::units::{check_size_cap, parse_duration_secs, parse_size, MAX_OBJECT_SIZE};
use super::{BucketSpec, Known, Replication, SizeSpec, KNOWN_CLOUDS};

/// Most buckets one scenario may ask for; more is surely a typo and would
/// make a run create a surprising number of buckets.
pub const MAX_BUCKETS: u64 = 100;
/// Most objects per bucket; keeps a typo from turning into a days-long run.
pub const MAX_OBJECT_COUNT: u64 = 10_000_000;
/// Longest scenario name; names end up in reports and file names.
const MAX_NAME_LEN: usize = 200;

/// Owned copy of the caller's known names, visible to the `Deserialize` impls.
struct KnownNames {
    tests: Vec<String>,
    checks: Vec<String>,
}

thread_local! {
    static KNOWN: RefCell<Option<KnownNames>> = const { RefCell::new(None) };
}

/// Runs `f` with `known` visible to the name validators, restoring the
/// previous value afterwards (even if `f` unwinds) so nested calls are safe.
pub(crate) fn with_known<T>(known: &Known, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<KnownNames>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            KNOWN.with(|k| *k.borrow_mut() = prev);
        }
    }
    let names = KnownNames {
        tests: known.tests.iter().map(|s| s.to_string()).collect(),
        checks: known.checks.iter().map(|s| s.to_string()).collect(),
    };
    let _restore = Restore(KNOWN.with(|k| k.borrow_mut().replace(names)));
    f()
}

/// Checks `name` against the current known list for `kind` ("test"/"check").
fn check_known(kind: &str, name: &str) -> Result<(), String> {
    KNOWN.with(|k| {
        let k = k.borrow();
        let list: &[String] = match (k.as_ref(), kind) {
            (Some(n), "test") => &n.tests,
            (Some(n), _) => &n.checks,
            (None, _) => &[],
        };
        if list.iter().any(|known| known == name) {
            return Ok(());
        }
        let shown = if list.is_empty() { "(none)".to_string() } else { list.join(", ") };
        let mut msg = format!("unknown {kind} '{name}'; known {kind}s: {shown}");
        if let Some(s) = list.iter().find(|known| known.eq_ignore_ascii_case(name)) {
            msg.push_str(&format!("; did you mean '{s}'?"));
        }
        Err(msg)
    })
}

/// A whole file: either a bare list of scenarios or a `scenarios:` mapping.
pub(crate) struct RawFile {
    pub scenarios: Vec<RawScenario>,
}

impl<'de> Deserialize<'de> for RawFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawFileVisitor)
    }
}

struct RawFileVisitor;

impl<'de> Visitor<'de> for RawFileVisitor {
    type Value = RawFile;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of scenarios, or a mapping with a 'scenarios' list (and optional 'clouds' anchors)")
    }

    fn visit_none<E: de::Error>(self) -> Result<RawFile, E> {
        Ok(RawFile { scenarios: Vec::new() })
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawFile, E> {
        Ok(RawFile { scenarios: Vec::new() })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawFile, A::Error> {
        let mut scenarios = Vec::new();
        while let Some(s) = seq.next_element()? {
            scenarios.push(s);
        }
        Ok(RawFile { scenarios })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFile, A::Error> {
        let mut scenarios: Option<Vec<RawScenario>> = None;
        let mut clouds_seen = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "scenarios" if scenarios.is_some() => return Err(de::Error::duplicate_field("scenarios")),
                "scenarios" => scenarios = Some(map.next_value()?),
                "clouds" if clouds_seen => return Err(de::Error::duplicate_field("clouds")),
                "clouds" => {
                    clouds_seen = true;
                    map.next_value::<IgnoredAny>()?;
                }
                other => return Err(de::Error::unknown_field(other, &["scenarios", "clouds"])),
            }
        }
        let scenarios = scenarios.ok_or_else(|| de::Error::missing_field("scenarios"))?;
        Ok(RawFile { scenarios })
    }
}

/// One scenario as written; converted to [`super::Scenario`] by the loader.
#[derive(Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a scenario mapping (keys: name, required, objects, tests, checks, random_ops)"
)]
pub(crate) struct RawScenario {
    /// Unique within the scenario set; `--scenario NAME` selects it.
    pub name: ScenarioName,
    /// What the buckets must be (default: one plain bucket).
    #[serde(default)]
    pub required: Option<RawRequired>,
    /// How many objects per bucket, and how big (default: none).
    #[serde(default)]
    pub objects: Option<RawObjects>,
    /// The workloads that drive the cluster, in order (`sfko list` names them).
    pub tests: NameList<TestKind>,
    /// The checks that verify what the workloads did, in order (`sfko list` names them).
    #[serde(default)]
    pub checks: Option<NameList<CheckKind>>,
    /// Settings of the `random-ops` workload.
    #[serde(default)]
    pub random_ops: Option<super::random_ops::RawRandomOps>,
}

/// The `required:` section.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping with a 'buckets' key")]
pub(crate) struct RawRequired {
    /// A bucket count, or one spec per bucket.
    #[serde(default)]
    pub buckets: Option<Buckets>,
}

/// The `objects:` section.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping with 'count' and/or 'size'")]
pub(crate) struct RawObjects {
    /// Objects per bucket.
    #[serde(default)]
    pub count: Option<Count>,
    /// One size, or a `{min, max}` range each object's size is drawn from.
    #[serde(default)]
    pub size: Option<Size>,
}

/// One entry of a `buckets:` list.
#[derive(Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a bucket spec mapping (keys: replication, clouds, transient, expiration, versioning)"
)]
struct RawBucket {
    /// `true` (to any other cloud), `false`, or the clouds to replicate to.
    #[serde(default)]
    replication: Option<ReplicationField>,
    /// The clouds the bucket may live on (default: any).
    #[serde(default)]
    clouds: Option<CloudList>,
    /// Created on the target's transient-source location (Zenko).
    #[serde(default)]
    transient: Option<bool>,
    /// A lifecycle rule expiring objects after this long, e.g. `1d`.
    #[serde(default)]
    expiration: Option<Expiration>,
    /// Versioning enabled.
    #[serde(default)]
    versioning: Option<bool>,
}

impl From<RawBucket> for BucketSpec {
    fn from(b: RawBucket) -> Self {
        BucketSpec {
            replication: b.replication.map(|r| r.0).unwrap_or_default(),
            clouds: b.clouds.map(|c| c.0).unwrap_or_default(),
            transient: b.transient.unwrap_or(false),
            expiration_secs: b.expiration.map(|e| e.0),
            versioning: b.versioning.unwrap_or(false),
        }
    }
}

/// Deserializes a scalar as text and validates it inside the visitor, so an
/// error carries the scalar's own line and column (not its parent's).
fn checked_str<'de, D, T, F>(d: D, expecting: &'static str, check: F) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    F: FnOnce(&str) -> Result<T, String>,
{
    struct CheckedStr<F>(&'static str, F);
    impl<'de, T, F: FnOnce(&str) -> Result<T, String>> Visitor<'de> for CheckedStr<F> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
            (self.1)(s).map_err(E::custom)
        }
    }
    d.deserialize_str(CheckedStr(expecting, check))
}

/// A scenario name: non-empty, printable, of sane length.
pub(crate) struct ScenarioName(pub String);

impl<'de> Deserialize<'de> for ScenarioName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_str(d, "a scenario name", check_name).map(ScenarioName)
    }
}

fn check_name(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("scenario name must not be empty".to_string());
    }
    if s.chars().any(char::is_control) {
        return Err("scenario name must not contain control characters (tabs, newlines)".to_string());
    }
    if s.chars().count() > MAX_NAME_LEN {
        return Err(format!("scenario name is longer than {MAX_NAME_LEN} characters"));
    }
    Ok(s.to_string())
}

/// Which known-name list a [`NameList`] is checked against.
pub(crate) trait NameKind {
    /// "test" or "check", used in messages and to pick the list.
    const KIND: &'static str;
    /// Whether an empty list is an error.
    const NON_EMPTY: bool;
}
pub(crate) struct TestKind;
pub(crate) struct CheckKind;
impl NameKind for TestKind {
    const KIND: &'static str = "test";
    const NON_EMPTY: bool = true;
}
impl NameKind for CheckKind {
    const KIND: &'static str = "check";
    const NON_EMPTY: bool = false;
}

/// A list of test or check names, each validated against the known list.
pub(crate) struct NameList<K>(pub Vec<String>, std::marker::PhantomData<K>);

/// One validated test or check name.
struct KnownName<K>(String, std::marker::PhantomData<K>);

impl<'de, K: NameKind> Deserialize<'de> for KnownName<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = checked_str(d, "a name", |s| check_known(K::KIND, s).map(|()| s.to_string()))?;
        Ok(KnownName(name, std::marker::PhantomData))
    }
}

impl<'de, K: NameKind> Deserialize<'de> for NameList<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(NameListVisitor::<K>(std::marker::PhantomData))
    }
}

struct NameListVisitor<K>(std::marker::PhantomData<K>);

impl<'de, K: NameKind> Visitor<'de> for NameListVisitor<K> {
    type Value = NameList<K>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let qualifier = if K::NON_EMPTY { "non-empty " } else { "" };
        write!(f, "a {qualifier}list of {} names, e.g. [{}]", K::KIND, example_names(K::KIND))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NameList<K>, A::Error> {
        let mut names = Vec::new();
        while let Some(KnownName::<K>(n, _)) = seq.next_element()? {
            names.push(n);
        }
        if K::NON_EMPTY && names.is_empty() {
            let msg = format!("expected at least one {}; known {}s: {}", K::KIND, K::KIND, example_names(K::KIND));
            return Err(de::Error::custom(msg));
        }
        Ok(NameList(names, std::marker::PhantomData))
    }
}

/// The known names of `kind`, comma-separated, for "expected" messages.
fn example_names(kind: &str) -> String {
    KNOWN.with(|k| match k.borrow().as_ref() {
        Some(n) if kind == "test" => n.tests.join(", "),
        Some(n) => n.checks.join(", "),
        None => String::new(),
    })
}

/// `buckets:` — a count of plain buckets or a list of bucket specs.
pub(crate) struct Buckets(pub Vec<BucketSpec>);

impl<'de> Deserialize<'de> for Buckets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BucketsVisitor)
    }
}

struct BucketsVisitor;

impl BucketsVisitor {
    fn count_error() -> String {
        format!("bucket count must be between 1 and {MAX_BUCKETS}")
    }
}

impl<'de> Visitor<'de> for BucketsVisitor {
    type Value = Buckets;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "a bucket count (1..={MAX_BUCKETS}) or a non-empty list of bucket specs \
             (keys: replication, clouds, transient, expiration, versioning)"
        )
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Buckets, E> {
        if !(1..=MAX_BUCKETS).contains(&n) {
            return Err(E::custom(Self::count_error()));
        }
        // Bounded by MAX_BUCKETS above, so the conversion cannot truncate.
        Ok(Buckets(vec![BucketSpec::default(); n as usize]))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Buckets, E> {
        match u64::try_from(n) {
            Ok(n) => self.visit_u64(n),
            Err(_) => Err(E::custom(Self::count_error())),
        }
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Buckets, E> {
        Err(E::custom(Self::count_error()))
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Buckets, E> {
        Err(E::custom(Self::count_error()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Buckets, A::Error> {
        let mut specs = Vec::new();
        while let Some(raw) = seq.next_element::<RawBucket>()? {
            if specs.len() as u64 >= MAX_BUCKETS {
                return Err(de::Error::custom(format!("more than {MAX_BUCKETS} buckets")));
            }
            specs.push(BucketSpec::from(raw));
        }
        if specs.is_empty() {
            return Err(de::Error::custom("bucket list must not be empty; omit 'buckets' for one plain bucket"));
        }
        Ok(Buckets(specs))
    }
}

/// One cloud name, normalised to upper case and checked against [`KNOWN_CLOUDS`].
struct CloudName(String);

impl<'de> Deserialize<'de> for CloudName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_str(d, "a cloud name", |s| {
            let upper = s.trim().to_ascii_uppercase();
            if KNOWN_CLOUDS.contains(&upper.as_str()) {
                Ok(CloudName(upper))
            } else {
                Err(format!("unknown cloud '{s}'; known clouds: {}", KNOWN_CLOUDS.join(", ")))
            }
        })
    }
}

/// A list of distinct cloud names.
struct CloudList(Vec<String>);

impl<'de> Deserialize<'de> for CloudList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(CloudListVisitor)
    }
}

struct CloudListVisitor;

impl<'de> Visitor<'de> for CloudListVisitor {
    type Value = CloudList;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a list of cloud names ({})", KNOWN_CLOUDS.join(", "))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CloudList, A::Error> {
        let mut clouds: Vec<String> = Vec::new();
        while let Some(CloudName(c)) = seq.next_element()? {
            if clouds.contains(&c) {
                return Err(de::Error::custom(format!("cloud '{c}' is listed more than once")));
            }
            clouds.push(c);
        }
        Ok(CloudList(clouds))
    }
}

/// `replication:` — a bool or a non-empty list of allowed target clouds.
struct ReplicationField(Replication);

impl<'de> Deserialize<'de> for ReplicationField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ReplicationVisitor)
    }
}

struct ReplicationVisitor;

impl<'de> Visitor<'de> for ReplicationVisitor {
    type Value = ReplicationField;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "true, false, or a non-empty list of target clouds ({})", KNOWN_CLOUDS.join(", "))
    }

    fn visit_bool<E: de::Error>(self, on: bool) -> Result<ReplicationField, E> {
        Ok(ReplicationField(if on { Replication::AnyOtherCloud } else { Replication::Off }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ReplicationField, A::Error> {
        let CloudList(clouds) = CloudListVisitor.visit_seq(seq)?;
        if clouds.is_empty() {
            return Err(de::Error::custom(
                "replication cloud list must not be empty; use 'false' to disable replication",
            ));
        }
        Ok(ReplicationField(Replication::Clouds(clouds)))
    }
}

/// `expiration:` — a positive duration with units, in seconds.
struct Expiration(u64);

impl<'de> Deserialize<'de> for Expiration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ExpirationVisitor)
    }
}

struct ExpirationVisitor;

impl<'de> Visitor<'de> for ExpirationVisitor {
    type Value = Expiration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as '90s', '5h 30m' or '2d' (units: s, m, h, d, w)")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Expiration, E> {
        parse_duration_secs(s).map(Expiration).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Expiration, E> {
        Err(E::custom(format!("duration {n} has no unit; write e.g. '{n}s' or '{n}d' (units: s, m, h, d, w)")))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Expiration, E> {
        Err(E::custom(format!("duration {n} must be positive and have a unit (s, m, h, d, w)")))
    }
}

/// `count:` — objects per bucket.
pub(crate) struct Count(pub u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CountVisitor)
    }
}

struct CountVisitor;

impl CountVisitor {
    fn range_error() -> String {
        format!("object count must be between 0 and {MAX_OBJECT_COUNT}")
    }
}

impl<'de> Visitor<'de> for CountVisitor {
    type Value = Count;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an integer object count between 0 and {MAX_OBJECT_COUNT}")
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Count, E> {
        if n > MAX_OBJECT_COUNT {
            return Err(E::custom(Self::range_error()));
        }
        Ok(Count(n))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Count, E> {
        match u64::try_from(n) {
            Ok(n) => self.visit_u64(n),
            Err(_) => Err(E::custom(Self::range_error())),
        }
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Count, E> {
        Err(E::custom(Self::range_error()))
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Count, E> {
        Err(E::custom(Self::range_error()))
    }
}

/// `size:` — a fixed size, or a `{min, max}` range.
pub(crate) struct Size(pub SizeSpec);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SizeVisitor { allow_range: true })
    }
}

/// A single size value (used for `size:` itself and for `min`/`max`).
struct FixedSize(u64);

impl<'de> Deserialize<'de> for FixedSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(SizeVisitor { allow_range: false })?.0 {
            SizeSpec::Fixed(n) => Ok(FixedSize(n)),
            SizeSpec::Range { .. } => Err(de::Error::custom("a size range cannot be nested")),
        }
    }
}

struct SizeVisitor {
    allow_range: bool,
}

impl<'de> Visitor<'de> for SizeVisitor {
    type Value = Size;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a size such as 0B, 512K, 10M or integer bytes")?;
        if self.allow_range {
            f.write_str(", or a mapping {min: SIZE, max: SIZE}")?;
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Size, E> {
        parse_size(s).map(|n| Size(SizeSpec::Fixed(n))).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Size, E> {
        check_size_cap(n).map(|n| Size(SizeSpec::Fixed(n))).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Size, E> {
        match u64::try_from(n) {
            Ok(n) => self.visit_u64(n),
            Err(_) => Err(E::custom(format!("size {n} must not be negative"))),
        }
    }

    fn visit_u128<E: de::Error>(self, n: u128) -> Result<Size, E> {
        Err(E::custom(format!("size {n} is larger than the S3 maximum object size of 5T ({MAX_OBJECT_SIZE} bytes)")))
    }

    fn visit_i128<E: de::Error>(self, n: i128) -> Result<Size, E> {
        Err(E::custom(format!("size {n} must not be negative")))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Size, E> {
        Err(E::custom(
            "size must be integer bytes or a size string such as 512K; \
             fractional or floating-point values (1.5, 1e3) are not supported",
        ))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Size, A::Error> {
        if !self.allow_range {
            return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
        }
        let (min, max) = size_range(map)?;
        if min > max {
            return Err(de::Error::custom(format!("size range min ({min} bytes) is greater than max ({max} bytes)")));
        }
        Ok(Size(SizeSpec::Range { min, max }))
    }
}

/// Reads the `min` and `max` keys of a size range mapping.
fn size_range<'de, A: MapAccess<'de>>(mut map: A) -> Result<(u64, u64), A::Error> {
    let (mut min, mut max) = (None, None);
    while let Some(key) = map.next_key::<String>()? {
        let slot = match key.as_str() {
            "min" => &mut min,
            "max" => &mut max,
            other => return Err(de::Error::unknown_field(other, &["min", "max"])),
        };
        if slot.is_some() {
            return Err(de::Error::custom(format!("duplicate key '{key}' in size range")));
        }
        *slot = Some(map.next_value::<FixedSize>()?.0);
    }
    let min = min.ok_or_else(|| de::Error::missing_field("min"))?;
    let max = max.ok_or_else(|| de::Error::missing_field("max"))?;
    Ok((min, max))
}

// JSON Schema of the format (`sfko schema`). Each hand-written visitor above is described here by a schema of its
// own, next to the parser it mirrors; the structs derive theirs from the same serde attributes the parser uses. The
// parser stays the authority: the schema cannot say everything it checks (a size's 5T cap, a zero duration).

/// A `JsonSchema` impl whose schema is `body` (for the leaf types with hand-written visitors).
macro_rules! leaf_schema {
    ($ty:ty, $name:literal, |$generator:ident| $body:expr) => {
        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema($generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                $body
            }
        }
    };
}
pub(crate) use leaf_schema;

/// `^\s*(...)\s*$` matching any of `words`, in any case (JSON Schema patterns have no flags).
fn any_case(words: &[&str]) -> String {
    let alternatives: Vec<String> = words
        .iter()
        .map(|w| {
            w.chars()
                .map(|c| match (c.to_ascii_lowercase(), c.to_ascii_uppercase()) {
                    (l, u) if l != u => format!("[{l}{u}]"),
                    _ => c.to_string(),
                })
                .collect()
        })
        .collect();
    format!("^\\s*({})\\s*$", alternatives.join("|"))
}

/// A size string as [`parse_size`] reads it: digits and an optional binary unit, any case.
pub(crate) const SIZE_PATTERN: &str = "^\\s*[0-9]+\\s*([bB]|[kKmMgGtT]([bB]|[iI][bB])?)?\\s*$";

/// A duration as [`parse_duration_secs`] reads it: `<integer><unit>` terms.
const DURATION_PATTERN: &str = "^\\s*([0-9]+\\s*[smhdw]\\s*)+$";

/// The whole file: a list of scenarios, a `scenarios:` mapping (with `clouds:` for YAML anchors), or nothing.
impl JsonSchema for RawFile {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ScenarioFile".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let scenario = generator.subschema_for::<RawScenario>();
        json_schema!({
            "description": "An sfko scenario file: a list of scenarios, or a mapping with a `scenarios` list.",
            "oneOf": [
                {"type": "array", "items": scenario},
                {
                    "type": "object",
                    "properties": {
                        "scenarios": {"type": "array", "items": scenario},
                        "clouds": {"description": "Free-form: a place for YAML anchors the scenarios refer to."}
                    },
                    "required": ["scenarios"],
                    "additionalProperties": false
                },
                {"type": "null"}
            ]
        })
    }
}

leaf_schema!(ScenarioName, "ScenarioName", |_g| json_schema!({
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_NAME_LEN,
    "pattern": "^[^\\u0000-\\u001f\\u007f]*\\S[^\\u0000-\\u001f\\u007f]*$"
}));

impl<K: NameKind> JsonSchema for NameList<K> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("{}Names", K::KIND).into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<String> = KNOWN.with(|k| match k.borrow().as_ref() {
            Some(n) if K::KIND == "test" => n.tests.clone(),
            Some(n) => n.checks.clone(),
            None => Vec::new(),
        });
        json_schema!({
            "type": "array",
            "items": {"enum": names},
            "minItems": u64::from(K::NON_EMPTY)
        })
    }
}

leaf_schema!(Buckets, "Buckets", |generator| {
    let bucket = generator.subschema_for::<RawBucket>();
    json_schema!({
        "oneOf": [
            {"type": "integer", "minimum": 1, "maximum": MAX_BUCKETS, "description": "that many plain buckets"},
            {"type": "array", "items": bucket, "minItems": 1, "maxItems": MAX_BUCKETS}
        ]
    })
});

leaf_schema!(CloudList, "Clouds", |_g| json_schema!({
    "type": "array",
    "items": {"type": "string", "pattern": any_case(KNOWN_CLOUDS)},
    "uniqueItems": true
}));

leaf_schema!(ReplicationField, "Replication", |generator| {
    let clouds = generator.subschema_for::<CloudList>();
    json_schema!({
        "oneOf": [
            {"type": "boolean"},
            {"allOf": [clouds, {"minItems": 1}]}
        ]
    })
});

leaf_schema!(Expiration, "Duration", |_g| json_schema!({
    "type": "string",
    "pattern": DURATION_PATTERN,
    "examples": ["90s", "5h 30m", "2d"]
}));

leaf_schema!(Count, "ObjectCount", |_g| json_schema!({
    "type": "integer",
    "minimum": 0,
    "maximum": MAX_OBJECT_COUNT
}));

leaf_schema!(FixedSize, "Size", |_g| json_schema!({
    "oneOf": [
        {"type": "integer", "minimum": 0, "maximum": MAX_OBJECT_SIZE},
        {"type": "string", "pattern": SIZE_PATTERN, "examples": ["0B", "512K", "10M"]}
    ]
}));

leaf_schema!(Size, "SizeOrRange", |generator| {
    let fixed = generator.subschema_for::<FixedSize>();
    json_schema!({
        "oneOf": [
            fixed,
            {
                "type": "object",
                "properties": {"min": fixed, "max": fixed},
                "required": ["min", "max"],
                "additionalProperties": false
            }
        ]
    })
});

/// The JSON Schema (draft 2020-12) of a scenario file, with the test and check names of `known`.
pub fn json_schema(known: &Known) -> serde_json::Value {
    with_known(known, || {
        let mut schema = SchemaGenerator::default().into_root_schema_for::<RawFile>();
        schema.insert("title".into(), "sfko scenario file".into());
        schema.to_value()
    })
}
