//! The budgeted YAML visitor: parses one document into `Raw`, charging
//! every value to the template's budget as it is visited.

use std::cell::Cell;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde_json::{Number, Value as Json};

use super::{MAX_EXPANDED_BYTES, MAX_EXPANDED_NODES, MAX_NESTING};

/// What the expanded document may hold in all: values, and bytes of
/// strings. Charged while parsing, so an alias that replays a large value
/// thousands of times is stopped as it replays, long before it is built.
pub(super) struct Budget {
    pub(super) nodes: Cell<usize>,
    pub(super) bytes: Cell<usize>,
}

impl Budget {
    pub(super) fn charge(&self, nodes: usize, bytes: usize) -> Result<(), String> {
        self.nodes.set(self.nodes.get() + nodes);
        self.bytes.set(self.bytes.get() + bytes);
        if self.nodes.get() > MAX_EXPANDED_NODES {
            return Err(format!("the expanded template exceeds {MAX_EXPANDED_NODES} values"));
        }
        if self.bytes.get() > MAX_EXPANDED_BYTES {
            return Err(format!(
                "the expanded template exceeds {MAX_EXPANDED_BYTES} bytes of text"
            ));
        }
        Ok(())
    }
}

/// A parsed YAML node, before includes are resolved.
#[derive(Clone)]
pub(super) enum Raw {
    Json(Json),
    Seq(Vec<Raw>),
    Map(Vec<(String, Raw)>),
    Tagged(String, Box<Raw>),
}

/// Deserialises one YAML document into `Raw`, charging the budget for
/// every value as it is visited and refusing deep nesting.
pub(super) struct Seed<'b> {
    pub(super) budget: &'b Budget,
    pub(super) depth: usize,
}

impl<'b> Seed<'b> {
    fn child(&self) -> Seed<'b> {
        Seed {
            budget: self.budget,
            depth: self.depth + 1,
        }
    }

    fn scalar<E: de::Error>(&self, v: Json, bytes: usize) -> Result<Raw, E> {
        self.budget.charge(1, bytes).map_err(E::custom)?;
        Ok(Raw::Json(v))
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Raw;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        if self.depth > MAX_NESTING {
            return Err(de::Error::custom(format!("nested deeper than {MAX_NESTING} levels")));
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Raw;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
        self.scalar(Json::Bool(v), 0)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        self.scalar(Json::Number(v.into()), 0)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        self.scalar(Json::Number(v.into()), 0)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        let n = Number::from_f64(v).ok_or_else(|| E::custom(format!("{v} is not a usable number")))?;
        self.scalar(Json::Number(n), 0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        self.budget.charge(1, v.len()).map_err(E::custom)?;
        Ok(Raw::Json(Json::String(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        self.budget.charge(1, v.len()).map_err(E::custom)?;
        Ok(Raw::Json(Json::String(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
        self.scalar(Json::Null, 0)
    }
    fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
        self.scalar(Json::Null, 0)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        self.budget.charge(1, 0).map_err(de::Error::custom)?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self.child())? {
            out.push(v);
        }
        Ok(Raw::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        self.budget.charge(1, 0).map_err(de::Error::custom)?;
        let mut out = Vec::new();
        while let Some(key) = map.next_key_seed(self.child())? {
            let key = match key {
                Raw::Json(Json::String(s)) => s,
                Raw::Json(j @ (Json::Number(_) | Json::Bool(_))) => j.to_string(),
                _ => return Err(de::Error::custom("mapping keys must be scalars")),
            };
            let value = map.next_value_seed(self.child())?;
            out.push((key, value));
        }
        Ok(Raw::Map(out))
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Raw, A::Error> {
        // A tagged node: the tag arrives as the variant name.
        let (tag, variant) = data.variant::<String>()?;
        self.budget.charge(1, tag.len()).map_err(de::Error::custom)?;
        let value = variant.newtype_variant_seed(self.child())?;
        Ok(Raw::Tagged(
            format!("!{}", tag.trim_start_matches('!')),
            Box::new(value),
        ))
    }
}
