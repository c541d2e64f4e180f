//! Reading an untrusted YAML file with limits: no anchors or aliases, a bounded number of
//! nodes (see the module documentation of `repo_config`).

use super::*;

/// Why [`refuse_anchors`] refused a file.
pub(super) enum Refusal {
    /// The problem: an anchor or an alias, with its line.
    Anchor(String),
    /// The scanner could not read the file (serde_yaml has the last word on its syntax).
    Syntax(String),
}

/// Refuses the first anchor or alias in `yaml`, found by a YAML scanner: `&` and `*` in quoted
/// or block text, in comments, or inside plain text are text, not anchors.
pub(super) fn refuse_anchors(yaml: &str) -> Result<(), Refusal> {
    // A byte-order mark is not YAML content; serde_yaml skips it, the scanner does not.
    let text = yaml.strip_prefix('\u{feff}').unwrap_or(yaml);
    if !text.contains(['&', '*']) {
        return Ok(());
    }
    match scan(text) {
        // libyaml (serde_yaml) reads a tab as a space where YAML allows either; the scanner
        // refuses some of those (`key:<tab>value`). Anchors and aliases stand where they
        // stand either way, and the lines stay the same.
        Err(Refusal::Syntax(_)) if text.contains('\t') => scan(&text.replace('\t', " ")),
        result => result,
    }
}

pub(super) fn scan(text: &str) -> Result<(), Refusal> {
    let mut scanner = Scanner::new(text.chars());
    for token in &mut scanner {
        let (what, sign, name) = match token.1 {
            TokenType::Anchor(name) => ("anchor", '&', name),
            TokenType::Alias(name) => ("alias", '*', name),
            _ => continue,
        };
        return Err(Refusal::Anchor(format!(
            "line {}: {NO_ANCHORS} (found the {what} {}); write each value out in full",
            token.0.line(),
            code_text(&format!("{sign}{name}"))
        )));
    }
    match scanner.get_error() {
        Some(error) => Err(Refusal::Syntax(format!(
            "{} at line {}",
            error.info(),
            error.marker().line()
        ))),
        None => Ok(()),
    }
}

/// Whether serde_yaml would make more values of `yaml` than a file of its size can hold
/// without aliases (each value takes at least one character, and a key without a value one
/// more); stops counting there, so the answer costs no more than the file.
pub(super) fn exceeds_node_budget(yaml: &str) -> bool {
    let left = Cell::new(2 * yaml.len() + 64);
    let result = NodeBudget { left: &left }.deserialize(serde_yaml::Deserializer::from_str(yaml));
    result.is_err() && left.get() == 0
}

/// Counts the values a deserializer produces, failing once `left` runs out: serde_yaml
/// replays an alias's whole value each time it is used, so this is what bounds an expansion.
#[derive(Clone, Copy)]
pub(super) struct NodeBudget<'b> {
    left: &'b Cell<usize>,
}

impl NodeBudget<'_> {
    fn spend<E: de::Error>(self) -> Result<(), E> {
        match self.left.get().checked_sub(1) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => Err(E::custom("the file holds too many values")),
        }
    }
}

impl<'de> DeserializeSeed<'de> for NodeBudget<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeBudget<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.spend()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.spend()
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.spend()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.spend()
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.spend()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.spend()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.spend()
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        self.spend()
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.spend()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.spend()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.spend()?;
        self.deserialize(deserializer)
    }

    fn visit_newtype_struct<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<(), D::Error> {
        self.spend()?;
        self.deserialize(deserializer)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.spend()?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.spend()?;
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }

    /// A tagged value (`!tag value`).
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        use serde::de::VariantAccess;
        self.spend()?;
        let ((), variant) = data.variant_seed(self)?;
        variant.newtype_variant_seed(self)
    }
}
