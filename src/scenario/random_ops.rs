//! The `random_ops:` section of a scenario: how the `random-ops` workload draws its operation sequence.
//!
//! ```yaml
//! random_ops: {ops: 300, concurrency: 4, keys: 8, nasty_keys: true, weights: {put: 20, mpu-abort: 0}}
//! ```
//! Kinds not named under `weights` keep their default weight; a weight of 0 leaves a kind out (e.g. an operation a
//! target is known to get wrong, while hunting for something else).

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// Every operation kind `random-ops` draws, with its default weight. The order is part of the plan format.
pub const OP_KINDS: &[(&str, u32)] = &[
    ("put", 12),
    // Conditional writes: PutObject with If-None-Match: * (create only), and with If-Match: the ETag an earlier
    // write of the key got back (overwrite only that):
    ("put-if-absent", 2),
    ("put-if-match", 2),
    ("get", 10),
    ("head", 5),
    // GetObject or HeadObject with If-Match / If-None-Match: the ETag an earlier write of the key got back
    // (200, 412 or 304):
    ("get-if", 3),
    ("get-range", 6),
    // GetObject or HeadObject with partNumber: a part of a completed upload (its bytes, the part count and the
    // whole object's ETag), part 1 of an object written in one piece, or a part beyond the last (416):
    ("get-part", 3),
    ("bad-range", 1),
    // PutObject with a checksum header that does not match the body (must be refused, the key unchanged):
    ("bad-checksum", 1),
    ("delete", 6),
    // DeleteObject with If-Match: the ETag an earlier write of the key got back (delete only that; else 412):
    ("delete-if-match", 2),
    // DeleteObjects of a few keys, quiet or verbose, existing or not:
    ("delete-batch", 2),
    ("copy", 4),
    ("list", 6),
    // ListObjects version 1, in pages continued by NextMarker:
    ("list-v1", 2),
    ("mpu-create", 3),
    ("mpu-part", 6),
    // UploadPart of an upload that declared a checksum, with a wrong checksum header (must be refused, the part
    // number keeping the part it had):
    ("bad-part-checksum", 1),
    ("mpu-complete", 3),
    ("bad-complete", 1),
    // CompleteMultipartUpload with If-None-Match: * (create only; a refused one leaves the upload open):
    ("mpu-complete-if-absent", 1),
    ("mpu-abort", 2),
    // UploadPart or AbortMultipartUpload on an upload already completed or aborted (must be NoSuchUpload):
    ("mpu-late", 1),
    // Only on buckets with `versioning: true`:
    ("versioning", 1),
    ("list-versions", 3),
    ("get-version", 4),
    ("delete-version", 2),
];

/// Most operations one `random-ops` run may draw.
pub const MAX_OPS: u64 = 1_000_000;
/// Most requests in flight at once.
pub const MAX_CONCURRENCY: u64 = 64;
/// Largest key space.
pub const MAX_KEYS: u64 = 10_000;

/// The resolved options (defaults filled in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RandomOpsSpec {
    /// Operations to draw.
    pub ops: u64,
    /// Operations issued together (each round's racing writes are judged against every order they could take).
    pub concurrency: u64,
    /// Distinct keys per bucket: few, so operations collide.
    pub keys: u64,
    /// Which hard keys to draw besides plain ones.
    pub nasty_keys: NastyKeys,
    /// One weight per entry of [`OP_KINDS`], in that order.
    pub weights: Vec<u32>,
}

impl Default for RandomOpsSpec {
    fn default() -> Self {
        RandomOpsSpec {
            ops: 200,
            concurrency: 4,
            keys: 8,
            nasty_keys: NastyKeys::Plain,
            weights: OP_KINDS.iter().map(|(_, w)| *w).collect(),
        }
    }
}

impl RandomOpsSpec {
    /// The weight of `kind` (0 for a kind not in [`OP_KINDS`]).
    pub fn weight(&self, kind: &str) -> u32 {
        OP_KINDS.iter().position(|(k, _)| *k == kind).and_then(|i| self.weights.get(i).copied()).unwrap_or(0)
    }
}

/// The section as written.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping (keys: ops, concurrency, keys, nasty_keys, weights)")]
pub(crate) struct RawRandomOps {
    /// Operations to issue.
    #[serde(default)]
    ops: Option<InRange<1, MAX_OPS>>,
    /// Operations in flight at once (races on one key are issued on purpose).
    #[serde(default)]
    concurrency: Option<InRange<1, MAX_CONCURRENCY>>,
    /// Keys the operations share.
    #[serde(default)]
    keys: Option<InRange<1, MAX_KEYS>>,
    /// `false`: plain keys; `portable`: also spaces, `+`, `%`, unicode; `true`: also `//`, `..`, trailing `/`, 1024 bytes.
    #[serde(default)]
    nasty_keys: Option<NastyKeysWritten>,
    /// Operation kind → weight.
    #[serde(default)]
    weights: Option<Weights>,
}

/// `nasty_keys:` of a `random_ops:` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NastyKeys {
    /// `false`: plain keys and `/`-separated prefixes only.
    Plain,
    /// `portable`: also spaces, `+`, `%`, unicode and emoji — keys every S3 implementation must store, whatever it
    /// keeps them in (a file system included).
    Portable,
    /// `true`: also `//`, `..` segments, trailing slashes and 1024-byte keys (S3's limit), which file-system-backed
    /// servers map onto paths and get wrong.
    All,
}

impl NastyKeys {
    /// As written in a scenario.
    pub fn name(self) -> &'static str {
        match self {
            NastyKeys::Plain => "false",
            NastyKeys::Portable => "portable",
            NastyKeys::All => "true",
        }
    }
}

/// `nasty_keys:` as written: `true`, `false` or `portable`, checked where it is written (so the error has its line
/// and column). The resolved [`NastyKeys`] keeps serde's own encoding, for the journal.
struct NastyKeysWritten(NastyKeys);

impl<'de> Deserialize<'de> for NastyKeysWritten {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NastyKeys;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("true, false or portable")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<NastyKeys, E> {
                Ok(if v { NastyKeys::All } else { NastyKeys::Plain })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NastyKeys, E> {
                match v {
                    "portable" => Ok(NastyKeys::Portable),
                    "true" => Ok(NastyKeys::All),
                    "false" => Ok(NastyKeys::Plain),
                    _ => Err(E::custom(format!("nasty_keys '{v}': expected true, false or portable"))),
                }
            }
        }
        d.deserialize_any(V).map(NastyKeysWritten)
    }
}

impl From<RawRandomOps> for RandomOpsSpec {
    fn from(raw: RawRandomOps) -> Self {
        let defaults = RandomOpsSpec::default();
        let mut weights = defaults.weights.clone();
        for (index, weight) in raw.weights.map(|w| w.0).unwrap_or_default() {
            weights[index] = weight;
        }
        RandomOpsSpec {
            ops: raw.ops.map_or(defaults.ops, |n| n.0),
            concurrency: raw.concurrency.map_or(defaults.concurrency, |n| n.0),
            keys: raw.keys.map_or(defaults.keys, |n| n.0),
            nasty_keys: raw.nasty_keys.map_or(defaults.nasty_keys, |n| n.0),
            weights,
        }
    }
}

/// An integer in `LO..=HI`, checked where it is written (so the error has its line and column).
struct InRange<const LO: u64, const HI: u64>(u64);

impl<'de, const LO: u64, const HI: u64> Deserialize<'de> for InRange<LO, HI> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const LO: u64, const HI: u64>;
        impl<'de, const LO: u64, const HI: u64> Visitor<'de> for V<LO, HI> {
            type Value = InRange<LO, HI>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an integer between {LO} and {HI}")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
                if (LO..=HI).contains(&n) {
                    Ok(InRange(n))
                } else {
                    Err(E::custom(format!("{n} is out of range: expected an integer between {LO} and {HI}")))
                }
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
                match u64::try_from(n) {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom(format!("{n} is out of range: expected an integer between {LO} and {HI}"))),
                }
            }
        }
        d.deserialize_any(V::<LO, HI>)
    }
}

/// `weights:` — operation kind → weight, each kind checked against [`OP_KINDS`].
struct Weights(Vec<(usize, u32)>);

/// A kind name, resolved to its index in [`OP_KINDS`].
struct KindName(usize);

impl<'de> Deserialize<'de> for KindName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KindName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an operation kind")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<KindName, E> {
                OP_KINDS.iter().position(|(k, _)| *k == s).map(KindName).ok_or_else(|| {
                    let known: Vec<&str> = OP_KINDS.iter().map(|(k, _)| *k).collect();
                    E::custom(format!("unknown operation kind '{s}'; known kinds: {}", known.join(", ")))
                })
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Weights {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Weights;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of operation kind to weight, e.g. {put: 10, mpu-abort: 0}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Weights, A::Error> {
                let mut out: Vec<(usize, u32)> = Vec::new();
                while let Some(KindName(index)) = map.next_key()? {
                    let InRange::<0, 1000>(weight) = map.next_value()?;
                    if out.iter().any(|(i, _)| *i == index) {
                        return Err(de::Error::custom(format!("weight of '{}' given twice", OP_KINDS[index].0)));
                    }
                    out.push((index, weight as u32));
                }
                Ok(Weights(out))
            }
        }
        d.deserialize_map(V)
    }
}

super::schema::leaf_schema!(NastyKeysWritten, "NastyKeys", |_g| schemars::json_schema!({
    "oneOf": [{"type": "boolean"}, {"enum": ["true", "false", "portable"]}]
}));

impl<const LO: u64, const HI: u64> schemars::JsonSchema for InRange<LO, HI> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Integer{LO}To{HI}").into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "integer", "minimum": LO, "maximum": HI})
    }
}

super::schema::leaf_schema!(Weights, "Weights", |_g| {
    let weight = serde_json::json!({"type": "integer", "minimum": 0, "maximum": 1000});
    let kinds: serde_json::Map<String, serde_json::Value> =
        OP_KINDS.iter().map(|(kind, _)| (kind.to_string(), weight.clone())).collect();
    schemars::json_schema!({"type": "object", "properties": kinds, "additionalProperties": false})
});
