//! One module per XEP the component answers. Each declares its
//! [`IqHandler`](crate::router::IqHandler) next to the handler itself, so
//! that service discovery lists exactly what is handled.

pub mod adhoc;
pub mod disco;
pub mod gateway;
pub mod last;
pub mod ping;
pub mod register;
pub mod vcard;
pub mod version;
