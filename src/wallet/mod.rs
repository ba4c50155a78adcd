//! What users do with their wallet, once, for every way of asking: the
//! XEP handlers (forms) and the chat commands both call in here.

pub mod accounts;
pub mod audit;
pub mod deposits;
pub mod payments;
pub mod withdrawals;

use crate::gateway::Gateway;
use crate::xmpp::{ns, Element};

/// Tells every admin something that needs a human, in their language.
pub fn alert_admins(gateway: &Gateway, key: &str, args: &[(&str, &str)], out: &mut Vec<Element>) {
    log::warn!("admin alert: {}", gateway.text("en", key, args));
    for admin in &gateway.config.main.admins {
        let language = gateway
            .ledger
            .user_by_jid(&admin.to_string())
            .ok()
            .flatten()
            .and_then(|u| u.language);
        let lang = gateway
            .catalogs
            .pick(None, language.as_deref(), &gateway.config.main.languages);
        out.push(
            Element::new("message", ns::COMPONENT)
                .attr("type", "chat")
                .attr("from", &gateway.jid.to_string())
                .attr("to", &admin.to_string())
                .text_child("body", &gateway.text(lang, key, args)),
        );
    }
}
