//! Catalog rules: who writes categories, skills, companies, provider profiles and services,
//! and the checks on them that need no storage (the category tree is passed in as data).
//! Pure: the commands in agora-actors load what these rules look at.

use crate::account::Role;
use crate::codes;
use crate::error::DomainError;
use crate::ids::{CategoryId, UserId};
use crate::market::{text, MAX_DURATION_MINUTES};

/// Category names: 1..=100 characters; skill names: 1..=60.
pub const CATEGORY_NAME_MAX: usize = 100;
pub const SKILL_NAME_MAX: usize = 60;
/// A provider profile lists at most this many categories and skills.
pub const MAX_PROFILE_CATEGORIES: usize = 20;
pub const MAX_PROFILE_SKILLS: usize = 50;

/// Categories and skills are written by admins only.
pub fn admin_only(role: Role) -> Result<(), DomainError> {
    if role.is_admin() {
        Ok(())
    } else {
        Err(DomainError::Forbidden("admins only"))
    }
}

/// Companies, profiles and services are changed by their owner only.
pub fn owner_only(owner: UserId, by: UserId, why: &'static str) -> Result<(), DomainError> {
    if owner == by {
        Ok(())
    } else {
        Err(DomainError::Forbidden(why))
    }
}

/// A name already used where names are unique (siblings, skills).
pub fn name_taken() -> DomainError {
    DomainError::conflict(codes::NAME_TAKEN, "that name is already taken")
}

/// The user already has their one provider profile.
pub fn profile_exists() -> DomainError {
    DomainError::conflict(codes::PROFILE_EXISTS, "you already have a provider profile")
}

/// `parent` may become the parent of `me` (`None`: a new category) in `tree`, a list of
/// `(category, its parent)`: it must exist and must not be `me` or one of its descendants.
pub fn parent(
    tree: &[(CategoryId, Option<CategoryId>)],
    me: Option<CategoryId>,
    parent: CategoryId,
) -> Result<(), DomainError> {
    let up = |id: CategoryId| tree.iter().find(|(c, _)| *c == id).map(|(_, p)| *p);
    if up(parent).is_none() {
        return Err(DomainError::invalid_field("parent_id", "no such category"));
    }
    if let Some(me) = me {
        // Walk up from the new parent; meeting `me` would close a cycle. The walk is bounded
        // by the tree size, so a tree that already has a cycle cannot loop forever.
        let mut next = Some(parent);
        for _ in 0..=tree.len() {
            let Some(cur) = next else { break };
            if cur == me {
                return Err(DomainError::invalid_field("parent_id", "would make a cycle"));
            }
            next = up(cur).flatten();
        }
    }
    Ok(())
}

/// A category may be deleted only when no category has it as parent.
pub fn may_delete_category(tree: &[(CategoryId, Option<CategoryId>)], id: CategoryId) -> Result<(), DomainError> {
    if tree.iter().any(|(_, p)| *p == Some(id)) {
        Err(DomainError::conflict(codes::HAS_CHILDREN, "delete or move its subcategories first"))
    } else {
        Ok(())
    }
}

/// A company website: bounded text starting with `http://` or `https://`.
pub fn website(raw: &str) -> Result<String, DomainError> {
    let w = text(raw, 1, 300)?;
    if w.starts_with("https://") || w.starts_with("http://") {
        Ok(w)
    } else {
        Err(DomainError::invalid("must start with http:// or https://"))
    }
}

/// A service duration: 1 minute to one week.
pub fn duration(minutes: u32) -> Result<u32, DomainError> {
    if minutes == 0 || minutes > MAX_DURATION_MINUTES {
        Err(DomainError::invalid(format!("must be between 1 and {MAX_DURATION_MINUTES}")))
    } else {
        Ok(minutes)
    }
}

/// Only providers and workers have a provider profile, and nobody verifies their own.
pub fn may_create_profile(role: Role, sets_verified: bool) -> Result<(), DomainError> {
    if !matches!(role, Role::Provider | Role::Worker) {
        return Err(DomainError::Forbidden("only providers and workers have a provider profile"));
    }
    if sets_verified {
        return Err(DomainError::Forbidden("only admins set is_verified"));
    }
    Ok(())
}

/// What a profile edit touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileEdit {
    /// Any of the owner's fields (bio, rate, place, categories, skills, availability).
    pub owner_fields: bool,
    /// `is_verified`.
    pub verified: bool,
}

/// The owner edits their fields; an admin sets only `is_verified`.
pub fn may_edit_profile(owner: bool, role: Role, edit: ProfileEdit) -> Result<(), DomainError> {
    const NOT_OWNER: &str = "only the owner may edit this profile";
    if edit.verified && !role.is_admin() {
        return Err(DomainError::Forbidden("only admins set is_verified"));
    }
    if edit.owner_fields && !owner {
        return Err(DomainError::Forbidden(NOT_OWNER));
    }
    if !owner && !role.is_admin() {
        return Err(DomainError::Forbidden(NOT_OWNER));
    }
    Ok(())
}

/// Keeps the first of each id, in order.
pub fn unique<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> CategoryId {
        CategoryId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn field(e: DomainError) -> (String, String) {
        match e {
            DomainError::Invalid(f) => {
                let (k, v) = f.fields().iter().next().expect("one field");
                (k.clone(), v[0].clone())
            }
            other => panic!("not a validation error: {other:?}"),
        }
    }

    /// 1 ─ 2 ─ 3, and 4 on its own.
    fn tree() -> Vec<(CategoryId, Option<CategoryId>)> {
        vec![(id(1), None), (id(2), Some(id(1))), (id(3), Some(id(2))), (id(4), None)]
    }

    #[test]
    fn parents_must_exist_and_never_close_a_cycle() {
        let t = tree();
        // (me, new parent, refusal)
        let cases: &[(Option<u128>, u128, Option<&str>)] = &[
            (None, 1, None),
            (None, 3, None),
            (None, 9, Some("no such category")),
            (Some(3), 4, None),
            (Some(4), 3, None),
            (Some(2), 4, None),
            (Some(1), 1, Some("would make a cycle")),
            (Some(1), 2, Some("would make a cycle")),
            (Some(1), 3, Some("would make a cycle")),
            (Some(2), 3, Some("would make a cycle")),
            (Some(3), 9, Some("no such category")),
        ];
        for (me, p, refusal) in cases {
            let got = parent(&t, me.map(id), id(*p));
            match refusal {
                None => assert!(got.is_ok(), "{me:?} under {p}: {got:?}"),
                Some(why) => assert_eq!(field(got.expect_err("refused")), ("parent_id".into(), why.to_string())),
            }
        }
    }

    #[test]
    fn a_tree_that_already_has_a_cycle_does_not_loop() {
        let t = vec![(id(1), Some(id(2))), (id(2), Some(id(1))), (id(3), None)];
        assert!(parent(&t, Some(id(3)), id(1)).is_ok());
    }

    #[test]
    fn only_leaves_are_deleted() {
        let t = tree();
        for (c, ok) in [(1, false), (2, false), (3, true), (4, true)] {
            let got = may_delete_category(&t, id(c));
            assert_eq!(got.is_ok(), ok, "{c}");
            if let Err(e) = got {
                assert_eq!(e.code(), codes::HAS_CHILDREN);
            }
        }
    }

    #[test]
    fn admins_write_categories_and_skills() {
        for (role, ok) in [(Role::Admin, true), (Role::Client, false), (Role::Provider, false), (Role::Worker, false)] {
            assert_eq!(admin_only(role).is_ok(), ok, "{role:?}");
        }
    }

    #[test]
    fn owners_only() {
        let (a, b) = (UserId::from_uuid(uuid::Uuid::from_u128(1)), UserId::from_uuid(uuid::Uuid::from_u128(2)));
        assert!(owner_only(a, a, "x").is_ok());
        assert_eq!(owner_only(a, b, "x"), Err(DomainError::Forbidden("x")));
    }

    #[test]
    fn websites_and_durations() {
        assert_eq!(website(" https://acme.test ").as_deref(), Ok("https://acme.test"));
        assert!(website("http://acme.test").is_ok());
        assert!(website("ftp://acme.test").is_err());
        assert!(website("").is_err());
        assert_eq!(duration(1), Ok(1));
        assert_eq!(duration(MAX_DURATION_MINUTES), Ok(MAX_DURATION_MINUTES));
        assert!(duration(0).is_err());
        assert!(duration(MAX_DURATION_MINUTES + 1).is_err());
    }

    #[test]
    fn profile_rules_table() {
        use Role::*;
        for role in [Provider, Worker] {
            assert!(may_create_profile(role, false).is_ok());
            assert!(may_create_profile(role, true).is_err(), "nobody verifies their own profile");
        }
        for role in [Client, Admin] {
            assert!(may_create_profile(role, false).is_err(), "{role:?}");
        }
        let owner_only = ProfileEdit { owner_fields: true, verified: false };
        let verify = ProfileEdit { owner_fields: false, verified: true };
        let nothing = ProfileEdit { owner_fields: false, verified: false };
        // (owner, role, edit, allowed)
        let cases = [
            (true, Provider, owner_only, true),
            (true, Provider, verify, false),
            (true, Provider, nothing, true),
            (false, Provider, owner_only, false),
            (false, Client, nothing, false),
            (false, Admin, owner_only, false),
            (false, Admin, verify, true),
            (false, Admin, nothing, true),
            (false, Worker, verify, false),
        ];
        for (owner, role, edit, ok) in cases {
            assert_eq!(may_edit_profile(owner, role, edit).is_ok(), ok, "{owner} {role:?} {edit:?}");
        }
    }

    #[test]
    fn unique_keeps_first_occurrences() {
        assert_eq!(unique([3, 1, 3, 2, 1]), vec![3, 1, 2]);
    }

    #[test]
    fn refusals_carry_pinned_codes() {
        assert_eq!(name_taken().code(), codes::NAME_TAKEN);
        assert_eq!(profile_exists().code(), codes::PROFILE_EXISTS);
        assert!(codes::is_known(codes::NAME_TAKEN) && codes::is_known(codes::PROFILE_EXISTS));
    }
}
