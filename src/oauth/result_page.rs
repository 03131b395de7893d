//! The short page the loopback listener shows in the browser after the redirect.

use crate::lang::Lang;

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The page for a finished authorization: `Ok(())` or the error text to show (escaped here).
pub fn render(lang: Lang, outcome: Result<(), &str>) -> String {
    let (title, body) = match outcome {
        Ok(()) => (
            lang.pick("Authorization complete", "Autorisation terminée"),
            lang.pick(
                "The mail account is authorized. You can close this window and return to the application.",
                "Le compte de messagerie est autorisé. Vous pouvez fermer cette fenêtre et revenir à l'application.",
            )
            .to_string(),
        ),
        Err(text) => (
            lang.pick("Authorization failed", "Échec de l'autorisation"),
            format!(
                "{} {}",
                lang.pick("The authorization did not succeed:", "L'autorisation n'a pas abouti :"),
                text
            ),
        ),
    };
    let html_lang = lang.pick("en", "fr");
    format!(
        "<!DOCTYPE html>\n<html lang=\"{html_lang}\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
<body style=\"font-family: sans-serif; margin: 3em;\"><h1>{}</h1><p>{}</p></body></html>\n",
        html_escape(title),
        html_escape(title),
        html_escape(&body)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_provider_text() {
        let page = render(Lang::En, Err("<script>alert('x')</script> & co"));
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co"));
        assert!(!page.contains("<script>"));
        let fr = render(Lang::Fr, Ok(()));
        assert!(fr.contains("Autorisation terminée"));
    }
}
