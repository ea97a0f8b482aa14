//! Who may do what: roles, their permissions, and password hashing. Permissions are checked in core on every call,
//! never only hidden in the UI; the store additionally refuses an approval by the preparer.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version};
use serde::{Deserialize, Serialize};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// A role a person acts in (DESIGN.md: who uses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// 入力オペレーター (contractor staff at a counter post).
    Operator,
    /// 審査職員 (ward staff who approve or return).
    Reviewer,
    /// 業務責任者 (the contractor's supervisor).
    Supervisor,
    /// システム管理者 (ward IT).
    Admin,
    /// 監査担当.
    Auditor,
}

/// Something a role may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Take a request, search residents, prepare and hand over outputs.
    PrepareCase,
    /// Approve or return an output; decide 交付.
    ReviewCase,
    /// Record that a certificate was issued.
    IssueCertificate,
    /// Read cases in the queue (staff and supervisors).
    ReadQueue,
    /// Create users and grant roles.
    ManageUsers,
    /// See the stations' device configuration and run the device tests.
    ManageStations,
    /// Read the audit log and verify it.
    ReadAudit,
    /// Export the store (always encrypted) for the ward.
    ExportData,
    /// Keep the security-paper ledger and close the business day (日計・用紙の締め).
    CloseDay,
    /// Set the ward's 手数料表 (fees per certificate kind).
    SetFees,
}

impl Permission {
    /// Every permission (the rows of the permission matrix test).
    pub const ALL: [Permission; 10] = [
        Permission::PrepareCase,
        Permission::ReviewCase,
        Permission::IssueCertificate,
        Permission::ReadQueue,
        Permission::ManageUsers,
        Permission::ManageStations,
        Permission::ReadAudit,
        Permission::ExportData,
        Permission::CloseDay,
        Permission::SetFees,
    ];
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [Role::Operator, Role::Reviewer, Role::Supervisor, Role::Admin, Role::Auditor];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Reviewer => "reviewer",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }

    /// Parse a stored name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The Japanese label.
    pub fn label_ja(self) -> &'static str {
        match self {
            Role::Operator => "入力オペレーター",
            Role::Reviewer => "審査職員",
            Role::Supervisor => "業務責任者",
            Role::Admin => "システム管理者",
            Role::Auditor => "監査担当",
        }
    }

    /// Whether the role works from a case list: the whole queue (staff, supervisors) or its post's cases
    /// (operators). See `Counter::queue`.
    pub fn has_queue(self) -> bool {
        self.allows(Permission::ReadQueue) || self.allows(Permission::PrepareCase)
    }

    /// Whether the role grants `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission as P;
        match self {
            Role::Operator => matches!(permission, P::PrepareCase),
            Role::Reviewer => matches!(permission, P::ReviewCase | P::IssueCertificate | P::ReadQueue),
            Role::Supervisor => matches!(permission, P::ReadQueue | P::CloseDay),
            Role::Admin => matches!(permission, P::ManageUsers | P::ManageStations | P::ExportData | P::SetFees),
            Role::Auditor => matches!(permission, P::ReadAudit),
        }
    }
}

/// Why a password could not be set or checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// Too short.
    #[error("the password must have at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    /// The stored hash is unreadable.
    #[error("the stored password hash is malformed")]
    MalformedHash,
    /// Hashing failed.
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

fn hasher() -> Result<Argon2<'static>, PasswordError> {
    // OWASP minimum for Argon2id: m = 19 MiB, t = 2, p = 1.
    let params = Params::new(19_456, 2, 1, None).map_err(|e| PasswordError::Hashing(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hash a new password into a PHC string (Argon2id).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    hasher()?
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Whether `password` matches the stored PHC string.
pub fn verify_password(password: &str, stored: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(stored).map_err(|_| PasswordError::MalformedHash)?;
    Ok(hasher()?.verify_password(password.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash).expect("verify"));
        assert!(!verify_password("correct horse batterx", &hash).expect("verify"));
        assert!(matches!(hash_password("short"), Err(PasswordError::TooShort)));
        assert!(matches!(verify_password("x", "not a phc string"), Err(PasswordError::MalformedHash)));
    }

    #[test]
    fn no_role_both_prepares_and_reviews_and_admins_cannot_approve() {
        for role in Role::ALL {
            assert!(!(role.allows(Permission::PrepareCase) && role.allows(Permission::ReviewCase)), "{role:?}");
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert!(!Role::Admin.allows(Permission::ReviewCase));
        assert!(!Role::Auditor.allows(Permission::PrepareCase));
        assert!(!Role::Auditor.allows(Permission::ReviewCase));
        let station_admins: Vec<Role> =
            Role::ALL.into_iter().filter(|role| role.allows(Permission::ManageStations)).collect();
        assert_eq!(station_admins, vec![Role::Admin], "only admins see and test the stations' devices");
    }
}
