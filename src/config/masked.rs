//! The effective configuration as JSON, with secrets masked: what an admin's "show settings"
//! screen or a support ticket may display.

use super::Config;
use serde_json::Value;

const MASK: &str = "********";

/// The effective configuration, presets applied, secrets replaced by `********`.
pub fn to_json(config: &Config) -> String {
    let mut v = serde_json::to_value(config).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        mask(map.get_mut("client_secret"));
        for key in ["incoming", "outgoing"] {
            if let Some(Value::Object(server)) = map.get_mut(key) {
                mask(server.get_mut("password"));
            }
        }
        if let Some(pem) = map.get_mut("ca_certs_pem") {
            if let Value::String(text) = pem {
                let n = text.matches("-----BEGIN CERTIFICATE-----").count();
                *pem = Value::String(format!("{n} certificate(s)"));
            }
        }
        // extra parameters as an object, easier to read than pairs
        if let Some(Value::Array(pairs)) = map.get("extra_authorize_params").cloned() {
            let mut obj = serde_json::Map::new();
            for p in pairs {
                if let Value::Array(kv) = p {
                    if let (Some(Value::String(k)), Some(v)) = (kv.first(), kv.get(1)) {
                        obj.insert(k.clone(), v.clone());
                    }
                }
            }
            map.insert("extra_authorize_params".into(), Value::Object(obj));
        }
    }
    serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".to_string())
}

fn mask(v: Option<&mut Value>) {
    if let Some(v) = v {
        if !v.is_null() {
            *v = Value::String(MASK.to_string());
        }
    }
}
