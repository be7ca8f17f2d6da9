//! Value formats: how a registry entry's value becomes a node.
//!
//! The node's name is the address in the value when the format has one,
//! else the key's suffix under the prefix, so every client builds the same
//! ring from the same data. Unknown fields are ignored.

use serde_json::Value;

/// A node as a registry entry describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The node's name (hashed identity).
    pub name: String,
    /// Its weight: finite and greater than 0.
    pub weight: f64,
    /// Whether it takes traffic.
    pub up: bool,
}

/// Turns a value into an [`Entry`].
pub trait ValueFormat: Send + Sync + std::fmt::Debug {
    /// Parses `value`, stored under `key_suffix` (the key minus the prefix).
    /// `Ok(None)`: the value says the node is absent (e.g. a delete
    /// operation of etcd's endpoints manager). `Err`: bad data, with why.
    fn parse(&self, key_suffix: &str, value: &[u8]) -> Result<Option<Entry>, String>;
}

/// Parses each of the built-in formats, told apart by their fields:
/// `Addr` → [`EndpointsFormat`], `address` → [`KitexFormat`], else
/// [`PlainFormat`]. The default.
#[derive(Clone, Copy, Debug, Default)]
pub struct AutoFormat;

/// etcd's `endpoints` manager JSON, read by grpc-go's `etcd:///` resolver:
/// `{"Op":0,"Addr":"host:port","Metadata":{"weight":3}}`. Name: `Addr`;
/// weight: `Metadata.weight` (default 1). `Op` 1 (delete) means absent.
#[derive(Clone, Copy, Debug, Default)]
pub struct EndpointsFormat;

/// The Kitex registry style:
/// `{"network":"tcp","address":"host:port","weight":10,"tags":{...}}`.
/// Name: `address`; weight default 1.
#[derive(Clone, Copy, Debug, Default)]
pub struct KitexFormat;

/// ringroute's own form: `{"weight":2.5,"state":"up"|"down"}`, both
/// optional (weight 1, up). Name: the key's suffix.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainFormat;

fn object(value: &[u8]) -> Result<serde_json::Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(value) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(format!("not a JSON object: {other}")),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

fn weight(v: Option<&Value>) -> Result<f64, String> {
    let w = match v {
        None | Some(Value::Null) => return Ok(1.0),
        Some(Value::Number(n)) => n.as_f64().ok_or("weight out of range")?,
        // Metadata often carries strings; "NaN" parses as f64 but is
        // refused below like any other non-finite weight.
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("weight {s:?} is not a number"))?,
        Some(other) => return Err(format!("weight {other} is not a number")),
    };
    if w.is_finite() && w > 0.0 {
        Ok(w)
    } else {
        Err(format!("weight {w} must be finite and greater than 0"))
    }
}

fn name(n: &str) -> Result<String, String> {
    if n.is_empty() {
        Err("empty node name".into())
    } else {
        Ok(n.to_string())
    }
}

impl ValueFormat for EndpointsFormat {
    fn parse(&self, _key_suffix: &str, value: &[u8]) -> Result<Option<Entry>, String> {
        let m = object(value)?;
        if m.get("Op").and_then(Value::as_i64).unwrap_or(0) == 1 {
            return Ok(None);
        }
        let addr = m
            .get("Addr")
            .and_then(Value::as_str)
            .ok_or("no \"Addr\" string")?;
        let w = weight(m.get("Metadata").and_then(|md| md.get("weight")))?;
        Ok(Some(Entry {
            name: name(addr)?,
            weight: w,
            up: true,
        }))
    }
}

impl ValueFormat for KitexFormat {
    fn parse(&self, _key_suffix: &str, value: &[u8]) -> Result<Option<Entry>, String> {
        let m = object(value)?;
        let addr = m
            .get("address")
            .and_then(Value::as_str)
            .ok_or("no \"address\" string")?;
        Ok(Some(Entry {
            name: name(addr)?,
            weight: weight(m.get("weight"))?,
            up: true,
        }))
    }
}

fn state(v: Option<&Value>) -> Result<bool, String> {
    match v {
        None | Some(Value::Null) => Ok(true),
        Some(Value::String(s)) if s == "up" => Ok(true),
        Some(Value::String(s)) if s == "down" => Ok(false),
        Some(other) => Err(format!("state {other} is neither \"up\" nor \"down\"")),
    }
}

impl ValueFormat for PlainFormat {
    fn parse(&self, key_suffix: &str, value: &[u8]) -> Result<Option<Entry>, String> {
        let m = object(value)?;
        Ok(Some(Entry {
            name: name(key_suffix)?,
            weight: weight(m.get("weight"))?,
            up: state(m.get("state"))?,
        }))
    }
}

impl ValueFormat for AutoFormat {
    fn parse(&self, key_suffix: &str, value: &[u8]) -> Result<Option<Entry>, String> {
        let m = object(value)?;
        if m.contains_key("Addr") {
            EndpointsFormat.parse(key_suffix, value)
        } else if m.contains_key("address") {
            KitexFormat.parse(key_suffix, value)
        } else {
            PlainFormat.parse(key_suffix, value)
        }
    }
}

/// The plain-format value for a node of `weight` that is up.
pub fn plain_value(weight: f64) -> String {
    serde_json::json!({"weight": weight, "state": "up"}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto(suffix: &str, v: &str) -> Result<Option<Entry>, String> {
        AutoFormat.parse(suffix, v.as_bytes())
    }

    #[test]
    fn endpoints_manager_json() {
        let e = auto(
            "k1",
            r#"{"Op":0,"Addr":"10.0.0.1:80","Metadata":{"weight":3,"zone":"a"},"x":1}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (e.name.as_str(), e.weight, e.up),
            ("10.0.0.1:80", 3.0, true)
        );
        let e = auto("k1", r#"{"Addr":"10.0.0.1:80"}"#).unwrap().unwrap();
        assert_eq!(e.weight, 1.0);
        assert_eq!(
            auto("k1", r#"{"Op":1,"Addr":"10.0.0.1:80"}"#).unwrap(),
            None
        );
        assert!(
            auto(
                "k1",
                r#"{"Addr":"10.0.0.1:80","Metadata":{"weight":"NaN"}}"#
            )
            .is_err()
        );
        assert!(auto("k1", r#"{"Addr":""}"#).is_err());
    }

    #[test]
    fn kitex_json() {
        let e = auto(
            "x",
            r#"{"network":"tcp","address":"h:1","weight":10,"tags":{"a":"b"}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!((e.name.as_str(), e.weight), ("h:1", 10.0));
        assert!(auto("x", r#"{"address":"h:1","weight":-1}"#).is_err());
        assert!(auto("x", r#"{"address":"h:1","weight":0}"#).is_err());
    }

    #[test]
    fn plain_json_names_by_key_suffix() {
        let e = auto("node-a", r#"{"weight":2.5,"state":"down","extra":[1]}"#)
            .unwrap()
            .unwrap();
        assert_eq!((e.name.as_str(), e.weight, e.up), ("node-a", 2.5, false));
        assert_eq!(auto("n", "{}").unwrap().unwrap().weight, 1.0);
        assert!(auto("", "{}").is_err());
        assert!(auto("n", r#"{"state":"sideways"}"#).is_err());
        assert!(auto("n", "not json").is_err());
        assert!(auto("n", "[1]").is_err());
        assert!(auto("n", "").is_err());
        let v = plain_value(2.0);
        assert_eq!(auto("n", &v).unwrap().unwrap().weight, 2.0);
    }
}
