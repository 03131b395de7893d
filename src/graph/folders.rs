//! Graph folders: a folder named by its well-known name (`inbox`, `sentitems`, …) or by its
//! display path (`Clients/Société`, each part a display name, case-insensitive), resolved to
//! the id Graph uses; the folder tree as `om_folders_list` shows it; folders created for a move.

use super::Graph;
use crate::error::{Error, Result, Status};
use crate::imap::mailbox::Folder;
use crate::rest::Body;
use reqwest::Method;
use serde_json::{json, Value};

/// Graph's well-known folder names (usable in place of an id).
const WELL_KNOWN: &[&str] = &[
    "inbox",
    "sentitems",
    "drafts",
    "deleteditems",
    "archive",
    "junkemail",
    "outbox",
    "clutter",
    "conversationhistory",
    "msgfolderroot",
    "scheduled",
];

/// Most folders listed or searched (a mailbox with more is read only this far).
const MAX_FOLDERS: usize = 5000;
const MAX_DEPTH: usize = 16;

/// The well-known name `name` stands for, if any (`INBOX` of IMAP habits included).
pub fn well_known(name: &str) -> Option<&'static str> {
    let lower = name.trim().to_ascii_lowercase();
    WELL_KNOWN.iter().copied().find(|w| *w == lower)
}

fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

/// Every folder of a page set: follows `@odata.nextLink`, bounded.
async fn all_pages(graph: &Graph<'_>, first: String) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut next = Some(first);
    while let Some(url) = next.take() {
        let page = graph.get_json(&url, None).await?;
        if let Some(items) = page["value"].as_array() {
            out.extend(items.iter().cloned());
        }
        if out.len() >= MAX_FOLDERS {
            break;
        }
        next = page["@odata.nextLink"].as_str().map(str::to_string);
    }
    Ok(out)
}

async fn children(graph: &Graph<'_>, parent: Option<&str>) -> Result<Vec<Value>> {
    let path = match parent {
        None => "mailFolders?$top=100".to_string(),
        Some(id) => format!("mailFolders/{}/childFolders?$top=100", encode(id)),
    };
    all_pages(graph, graph.url(&path)).await
}

/// Exchange compares folder names without case, beyond ASCII too (`Société` = `SOCIÉTÉ`).
fn same_name(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

fn display_name(f: &Value) -> &str {
    f["displayName"].as_str().unwrap_or("")
}

/// The id of `path`, or `None` when a part does not exist.
pub async fn find(graph: &Graph<'_>, path: &str) -> Result<Option<String>> {
    let mut parts = path.split('/').filter(|p| !p.is_empty());
    let Some(first) = parts.next() else {
        return Ok(Some("inbox".to_string()));
    };
    let mut id = match well_known(first) {
        Some(w) => w.to_string(),
        None => match children(graph, None)
            .await?
            .iter()
            .find(|f| same_name(display_name(f), first))
            .and_then(|f| f["id"].as_str())
        {
            Some(id) => id.to_string(),
            None => return Ok(None),
        },
    };
    for part in parts {
        let kids = children(graph, Some(&id)).await?;
        match kids
            .iter()
            .find(|f| same_name(display_name(f), part))
            .and_then(|f| f["id"].as_str())
        {
            Some(k) => id = k.to_string(),
            None => return Ok(None),
        }
    }
    Ok(Some(id))
}

/// The id of `path`; a missing folder is an error naming it.
pub async fn resolve(graph: &Graph<'_>, path: &str) -> Result<String> {
    find(graph, path).await?.ok_or_else(|| {
        let l = graph.account.config.language;
        // as IMAP answers an unknown folder
        Error::new(
            Status::InvalidArgument,
            l.pick_string(
                format!("the folder `{path}` does not exist in the mailbox (Microsoft Graph): check the folder name, parts separated by `/`"),
                format!("le dossier `{path}` n'existe pas dans la boîte (Microsoft Graph) : vérifiez le nom du dossier, parties séparées par `/`"),
            ),
        )
    })
}

/// The id of `path`, creating the missing parts (a move's destination).
pub async fn resolve_or_create(graph: &Graph<'_>, path: &str) -> Result<String> {
    if let Some(id) = find(graph, path).await? {
        return Ok(id);
    }
    let mut parent: Option<String> = None;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        let existing = match (&parent, well_known(part)) {
            (None, Some(w)) => Some(w.to_string()),
            _ => children(graph, parent.as_deref())
                .await?
                .iter()
                .find(|f| same_name(display_name(f), part))
                .and_then(|f| f["id"].as_str().map(str::to_string)),
        };
        let id = match existing {
            Some(id) => id,
            None => {
                let url = match &parent {
                    None => graph.url("mailFolders"),
                    Some(p) => graph.url(&format!("mailFolders/{}/childFolders", encode(p))),
                };
                let body = json!({ "displayName": part }).to_string();
                let r = graph
                    .call(
                        Method::POST,
                        &url,
                        Body::Json(body.as_bytes()),
                        &[],
                        1 << 20,
                        false,
                    )
                    .await?;
                graph.expect_ok(&r)?;
                r.json()?["id"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| {
                        Error::new(
                            Status::ProtocolError,
                            "Microsoft Graph created a folder without an id",
                        )
                    })?
            }
        };
        parent = Some(id);
    }
    parent.ok_or_else(|| Error::config("fetch options key `move_to`: give a folder name"))
}

/// The folder tree, each folder named by its display path.
pub async fn list(graph: &Graph<'_>) -> Result<Vec<Folder>> {
    let mut out = Vec::new();
    // (path, id, child count, depth)
    let mut todo: Vec<(String, String, u64, usize)> = children(graph, None)
        .await?
        .iter()
        .map(|f| {
            (
                display_name(f).to_string(),
                f["id"].as_str().unwrap_or("").to_string(),
                f["childFolderCount"].as_u64().unwrap_or(0),
                0,
            )
        })
        .collect();
    todo.reverse();
    while let Some((path, id, kids, depth)) = todo.pop() {
        out.push(Folder {
            name: path.clone(),
            delimiter: Some("/".to_string()),
            attributes: if kids > 0 {
                vec!["\\HasChildren".to_string()]
            } else {
                vec!["\\HasNoChildren".to_string()]
            },
        });
        if out.len() >= MAX_FOLDERS {
            break;
        }
        if kids > 0 && depth < MAX_DEPTH && !id.is_empty() {
            let mut sub: Vec<_> = children(graph, Some(&id))
                .await?
                .iter()
                .map(|f| {
                    (
                        format!("{path}/{}", display_name(f)),
                        f["id"].as_str().unwrap_or("").to_string(),
                        f["childFolderCount"].as_u64().unwrap_or(0),
                        depth + 1,
                    )
                })
                .collect();
            sub.reverse();
            todo.extend(sub);
        }
    }
    Ok(out)
}
