//! What users do with their wallet, once, for every way of asking: the
//! XEP handlers (forms) and the chat commands both call in here.

pub mod accounts;
