//! Labels are the Gmail API's folders: a folder name is a system label's id or name (`INBOX`,
//! `SENT`, …, any case) or a user label's name (`Clients/Société`, nested with `/`, compared
//! without case); move destinations are created when missing.

use crate::error::{Error, Result, Status};
use crate::imap::mailbox::Folder;
use crate::rest::{Body, Rest};
use reqwest::Method;
use serde_json::{json, Value};

/// Every label of the mailbox as `labels.list` gives it (`id`, `name`, `type`).
pub(crate) async fn all(api: &Rest<'_>) -> Result<Vec<Value>> {
    let v = api.get_json(&api.url("labels"), None).await?;
    Ok(v["labels"].as_array().cloned().unwrap_or_default())
}

fn same(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// The label id of `name`, or `None`.
pub async fn find(api: &Rest<'_>, name: &str) -> Result<Option<String>> {
    let name = name.trim().trim_matches('/');
    if name.eq_ignore_ascii_case("INBOX") || name.is_empty() {
        return Ok(Some("INBOX".to_string()));
    }
    Ok(all(api)
        .await?
        .iter()
        .find(|l| {
            same(l["id"].as_str().unwrap_or(""), name) && l["type"].as_str() == Some("system")
                || same(l["name"].as_str().unwrap_or(""), name)
        })
        .and_then(|l| l["id"].as_str().map(str::to_string)))
}

/// The label id of `name`; an unknown label is an error naming it (as IMAP's unknown folder).
pub async fn resolve(api: &Rest<'_>, name: &str) -> Result<String> {
    find(api, name).await?.ok_or_else(|| {
        let l = api.account.config.language;
        Error::new(
            Status::InvalidArgument,
            l.pick_string(
                format!("the label `{name}` does not exist in the mailbox (Gmail API): check the folder name"),
                format!("le libellé `{name}` n'existe pas dans la boîte (API Gmail) : vérifiez le nom du dossier"),
            ),
        )
    })
}

/// The label id of `name`, created when missing.
pub async fn resolve_or_create(api: &Rest<'_>, name: &str) -> Result<String> {
    if let Some(id) = find(api, name).await? {
        return Ok(id);
    }
    let body = json!({
        "name": name.trim().trim_matches('/'),
        "labelListVisibility": "labelShow",
        "messageListVisibility": "show",
    })
    .to_string();
    let r = api
        .call(
            Method::POST,
            &api.url("labels"),
            Body::Json(body.as_bytes()),
            &[],
            1 << 20,
            false,
        )
        .await?;
    if r.status == 409 {
        // created meanwhile by someone else
        return resolve(api, name).await;
    }
    api.expect_ok(&r)?;
    r.json()?["id"].as_str().map(str::to_string).ok_or_else(|| {
        Error::new(
            Status::ProtocolError,
            "the Gmail API created a label without an id",
        )
    })
}

/// Every label as a folder (user labels by name, system labels by id).
pub async fn list(api: &Rest<'_>) -> Result<Vec<Folder>> {
    let mut out: Vec<Folder> = all(api)
        .await?
        .iter()
        .map(|l| {
            let system = l["type"].as_str() == Some("system");
            Folder {
                name: if system {
                    l["id"].as_str().unwrap_or("").to_string()
                } else {
                    l["name"].as_str().unwrap_or("").to_string()
                },
                delimiter: Some("/".to_string()),
                attributes: if system {
                    vec!["\\System".to_string()]
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
