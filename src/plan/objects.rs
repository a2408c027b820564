//! A bucket's objects: drawn from the seed when asked for, never held as a list unless shrinking made one.
//!
//! Every object of a resolved plan is a pure function of (seed, bucket, index, size spec), so the plan keeps only
//! those and draws object `i` on demand (one blake3 key derivation and a few PCG draws). A plan of a million objects
//! is a few bytes, its digest and its journal frame too, and a run's memory no longer grows with its object count.
//! `sfko shrink` removes objects one by one, which no seed describes: what is left is [`Objects::Listed`].
//!
//! In JSON (`--dry-run --format json`) objects are always written out as the list they mean, so a person or a
//! script sees every key, size and content key as before; only bincode (the journal and the plan digest) carries
//! the compact form.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{size, ObjectPlan};
use crate::content::{ContentKey, PartLayout, MAX_PARTS, MIN_PART_SIZE};
use crate::scenario::SizeSpec;
use crate::seed::Seed;

/// Largest extra part size drawn above the 5 MiB minimum.
const PART_SIZE_SPREAD: u64 = 11 * 1024 * 1024;

/// The objects of one bucket, in index order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Objects {
    /// `count` objects drawn from `seed` for bucket `bucket` (the bucket's position when the plan was resolved).
    Seeded { seed: Seed, bucket: u32, count: u32, size: SizeSpec },
    /// An explicit list (what shrinking leaves); object `i` is at position `i`.
    Listed(Vec<ObjectPlan>),
}

impl Objects {
    /// The objects resolution gives bucket `bucket` of a scenario writing `count` objects of `size`.
    pub fn seeded(seed: Seed, bucket: u32, count: u32, size: SizeSpec) -> Objects {
        Objects::Seeded { seed, bucket, count, size }
    }

    pub fn len(&self) -> usize {
        match self {
            Objects::Seeded { count, .. } => *count as usize,
            Objects::Listed(list) => list.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Object `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<ObjectPlan> {
        match self {
            Objects::Seeded { seed, bucket, count, size } => {
                (index < *count as usize).then(|| draw(*seed, *bucket, index as u32, size))
            }
            Objects::Listed(list) => list.get(index).cloned(),
        }
    }

    /// Every object in index order, each drawn as it is reached.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = ObjectPlan> + '_ {
        (0..self.len()).map(move |index| match self {
            Objects::Seeded { seed, bucket, size, .. } => draw(*seed, *bucket, index as u32, size),
            Objects::Listed(list) => list[index].clone(),
        })
    }

    /// Object sizes in index order; O(1) per object for a fixed size (no draw at all).
    pub fn sizes(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.len()).map(move |index| match self {
            Objects::Seeded { size: SizeSpec::Fixed(size), .. } => *size,
            _ => self.get(index).map_or(0, |o| o.size),
        })
    }

    /// The list, drawing it if it is seeded: what shrinking edits.
    pub fn to_list(&self) -> Vec<ObjectPlan> {
        match self {
            Objects::Listed(list) => list.clone(),
            seeded => seeded.iter().collect(),
        }
    }

    /// The listed objects to edit in place, drawing the list first if it is seeded.
    pub fn list_mut(&mut self) -> &mut Vec<ObjectPlan> {
        if let Objects::Seeded { .. } = self {
            *self = Objects::Listed(self.to_list());
        }
        match self {
            Objects::Listed(list) => list,
            Objects::Seeded { .. } => unreachable!("converted to a list just above"),
        }
    }
}

impl From<Vec<ObjectPlan>> for Objects {
    fn from(list: Vec<ObjectPlan>) -> Objects {
        Objects::Listed(list)
    }
}

/// Object `index` of bucket `bucket`: its size, key, content key and part layout, all from one labelled stream.
fn draw(seed: Seed, bucket: u32, index: u32, spec: &SizeSpec) -> ObjectPlan {
    let mut stream = seed.stream("object", &[u64::from(bucket), u64::from(index)]);
    let size = match *spec {
        SizeSpec::Fixed(size) => size,
        SizeSpec::Range { min, max } => size::draw(&mut stream, min, max),
    };
    let key = format!("{:04x}/obj-{index:06}", stream.below(0x1_0000));
    let content = ContentKey(stream.key());
    let part_size = (MIN_PART_SIZE + stream.below(PART_SIZE_SPREAD + 1)).max(size.div_ceil(MAX_PARTS));
    ObjectPlan { index, key, size, content, parts: PartLayout { size, part_size } }
}

/// The compact form bincode carries (the variant order is part of the journal format).
#[derive(Serialize, Deserialize)]
enum Compact<L> {
    Seeded { seed: Seed, bucket: u32, count: u32, size: SizeSpec },
    Listed(L),
}

impl Serialize for Objects {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            return serializer.collect_seq(self.iter());
        }
        match self {
            Objects::Seeded { seed, bucket, count, size } => {
                Compact::<&[ObjectPlan]>::Seeded { seed: *seed, bucket: *bucket, count: *count, size: size.clone() }
                    .serialize(serializer)
            }
            Objects::Listed(list) => Compact::Listed(list.as_slice()).serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Objects {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Objects, D::Error> {
        if deserializer.is_human_readable() {
            return Vec::<ObjectPlan>::deserialize(deserializer).map(Objects::Listed);
        }
        Ok(match Compact::<Vec<ObjectPlan>>::deserialize(deserializer)? {
            Compact::Seeded { seed, bucket, count, size } => Objects::Seeded { seed, bucket, count, size },
            Compact::Listed(list) => Objects::Listed(list),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded(count: u32, size: SizeSpec) -> Objects {
        Objects::seeded(Seed(42), 1, count, size)
    }

    #[test]
    fn a_seeded_object_is_the_same_whether_got_alone_or_iterated() {
        let objects = seeded(50, SizeSpec::Range { min: 0, max: 64 << 20 });
        let listed: Vec<ObjectPlan> = objects.iter().collect();
        assert_eq!(listed.len(), 50);
        for (i, object) in listed.iter().enumerate() {
            assert_eq!(objects.get(i).as_ref(), Some(object));
            assert_eq!(object.index as usize, i);
        }
        assert_eq!(objects.get(50), None);
        assert_eq!(objects.sizes().collect::<Vec<_>>(), listed.iter().map(|o| o.size).collect::<Vec<_>>());
    }

    #[test]
    fn bincode_carries_the_seed_and_json_the_list() {
        let objects = seeded(1000, SizeSpec::Fixed(7));
        let bytes = bincode::serde::encode_to_vec(&objects, bincode::config::standard()).unwrap_or_default();
        assert!(bytes.len() < 32, "{} bytes", bytes.len());
        let (back, _): (Objects, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).expect("decodes");
        assert_eq!(back, objects);

        let json = serde_json::to_value(&objects).expect("json");
        assert_eq!(json.as_array().map(Vec::len), Some(1000));
        assert_eq!(json[3]["key"], serde_json::json!(objects.get(3).map(|o| o.key)));
        let back: Objects = serde_json::from_value(json).expect("from json");
        assert_eq!(back.to_list(), objects.to_list());
    }

    #[test]
    fn editing_a_seeded_list_draws_it_first() {
        let mut objects = seeded(3, SizeSpec::Fixed(9));
        let before = objects.to_list();
        objects.list_mut().remove(1);
        assert_eq!(objects, Objects::Listed(vec![before[0].clone(), before[2].clone()]));
    }
}
