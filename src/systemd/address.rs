//! `NOTIFY_SOCKET` as systemd writes it (pure): an absolute path of a unix datagram socket, or
//! `@name` for a name in the abstract namespace.

/// Where notifications go.
#[derive(Debug, PartialEq, Eq)]
pub enum NotifyAddress {
    /// A socket file.
    Path(Vec<u8>),
    /// A name in Linux's abstract namespace (without the `@`).
    Abstract(Vec<u8>),
}

/// Room for a name in `sockaddr_un.sun_path`: 108 bytes, a path also needing its NUL.
const SUN_PATH: usize = 108;

impl NotifyAddress {
    /// Parses `NOTIFY_SOCKET`; `None` for anything systemd would not send us (empty, relative,
    /// too long, or another address family such as `vsock:`).
    pub fn parse(value: &str) -> Option<NotifyAddress> {
        let bytes = value.as_bytes();
        match bytes.first()? {
            b'/' if bytes.len() < SUN_PATH && !bytes.contains(&0) => Some(NotifyAddress::Path(bytes.to_vec())),
            b'@' if bytes.len() > 1 && bytes.len() <= SUN_PATH => Some(NotifyAddress::Abstract(bytes[1..].to_vec())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_abstract_names() {
        assert_eq!(
            NotifyAddress::parse("/run/systemd/notify"),
            Some(NotifyAddress::Path(b"/run/systemd/notify".to_vec()))
        );
        assert_eq!(
            NotifyAddress::parse("@/org/freedesktop/x"),
            Some(NotifyAddress::Abstract(b"/org/freedesktop/x".to_vec()))
        );
    }

    #[test]
    fn refuses_what_systemd_never_sends() {
        for bad in ["", "@", "relative/notify", "vsock:2:1234", "/with\0nul"] {
            assert_eq!(NotifyAddress::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn names_fit_sun_path() {
        let longest_path = format!("/{}", "p".repeat(SUN_PATH - 2));
        assert!(NotifyAddress::parse(&longest_path).is_some());
        assert!(NotifyAddress::parse(&format!("{longest_path}p")).is_none());
        // An abstract name needs no NUL: all 108 bytes are its own (less the `@`).
        let longest_name = format!("@{}", "n".repeat(SUN_PATH - 1));
        assert!(NotifyAddress::parse(&longest_name).is_some());
        assert!(NotifyAddress::parse(&format!("{longest_name}n")).is_none());
    }
}
