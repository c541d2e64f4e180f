//! Enums that survive an alpha API.
//!
//! Jules is v1alpha: new enum values can appear at any time. Every enum the API sends is
//! declared with [`open_enum!`], which adds an `Unknown(String)` arm that keeps the value as
//! it was sent, so a new state or mode never breaks parsing and can still be shown or sent back.

/// Declares a string enum with a catch-all `Unknown(String)` arm. The first variant is the
/// proto3 default (what an omitted field means).
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this client does not know (yet), kept exactly as the API sent it.
            Unknown(String),
        }

        impl $name {
            /// The value as the API spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Unknown(other) => other,
                }
            }

            /// True when this is the proto3 default (the field would be omitted).
            pub fn is_default(&self) -> bool {
                *self == Self::default()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                open_enum!(@first $( $variant ),+)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $( $wire => Self::$variant, )+
                    other => Self::Unknown(other.to_owned()),
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Ok(Self::from(value))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok(Self::from(value.as_ref()))
            }
        }
    };
    (@first $first:ident $(, $rest:ident)*) => { Self::$first };
}

pub(crate) use open_enum;
