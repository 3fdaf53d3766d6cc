//! The declarative residency policy (`policy/residency.toml`, embedded in the binary): which
//! data classes may go from which region to which, for what purpose, on what legal basis.
//! Default deny: a transfer no rule allows is refused, naming the rules that came closest.

use reelm_core::DataClass;
use serde::Deserialize;
use std::sync::LazyLock;

/// The policy text as shipped; an auditor reads this file.
pub const RESIDENCY_POLICY_TOML: &str = include_str!("../../../policy/residency.toml");

/// Purpose of a public counter delta (a like bumps a foreign video's like count).
pub const PURPOSE_PUBLIC_COUNTER: &str = "public_counter";
/// Purpose of serving published content to a viewer elsewhere.
pub const PURPOSE_SERVE_PUBLIC_CONTENT: &str = "serve_public_content";
/// Purpose of a person's own order to move their account (not implemented yet).
pub const PURPOSE_OWNER_MIGRATION: &str = "owner_migration";
/// Sharing k-anonymous statistics so another region's feed can learn from them.
pub const PURPOSE_MODEL_TRAINING: &str = "model_training";
/// A person's personal data shown to an operator of another region under an approved
/// break-glass grant (the access itself is decided by Cedar and in the person's access log).
pub const PURPOSE_OPERATOR_ACCESS: &str = "operator_access";

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ResidencyPolicy {
    #[serde(rename = "rule", default)]
    pub rules: Vec<Rule>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub class: DataClass,
    /// A region id or `"*"`.
    #[serde(default = "any_region")]
    pub from: String,
    /// A region id or `"*"`.
    #[serde(default = "any_region")]
    pub to: String,
    pub purposes: Vec<String>,
    pub legal_basis: String,
    /// For aggregates: the fewest distinct people the value may be computed from.
    #[serde(default)]
    pub min_distinct_people: Option<u64>,
}

fn any_region() -> String {
    "*".to_owned()
}

/// A transfer to decide.
#[derive(Clone, Debug, PartialEq)]
pub struct TransferRequest<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub class: DataClass,
    pub purpose: &'a str,
    /// For aggregates: how many distinct people the value was computed from.
    pub distinct_people: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by the named rule.
    Allowed { rule: String, legal_basis: String },
    /// Refused; the reason names the rule(s) that failed, or the default deny.
    Refused { reason: String },
}

impl Decision {
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }

    /// `"allowed"` or `"refused"`.
    pub fn as_str(&self) -> &'static str {
        if self.allowed() { "allowed" } else { "refused" }
    }

    /// Why: the allowing rule and its legal basis, or the refusal reason.
    pub fn reason(&self) -> String {
        match self {
            Decision::Allowed { rule, legal_basis } => {
                format!("allowed by rule {rule:?} ({legal_basis})")
            }
            Decision::Refused { reason } => reason.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("residency policy: {0}")]
pub struct PolicyError(String);

impl ResidencyPolicy {
    pub fn parse(text: &str) -> Result<ResidencyPolicy, PolicyError> {
        let p: ResidencyPolicy = toml::from_str(text).map_err(|e| PolicyError(e.to_string()))?;
        for r in &p.rules {
            if r.purposes.is_empty() {
                return Err(PolicyError(format!("rule {:?} lists no purpose", r.name)));
            }
            for region in [&r.from, &r.to] {
                if region != "*" && reelm_core::RegionId::new(region).is_err() {
                    return Err(PolicyError(format!(
                        "rule {:?}: {region:?} is neither a region id nor \"*\"",
                        r.name
                    )));
                }
            }
        }
        Ok(p)
    }

    /// The policy embedded in the binary.
    pub fn embedded() -> &'static ResidencyPolicy {
        &EMBEDDED
    }

    /// Decides a transfer: allowed by the first rule that matches everything, otherwise
    /// refused with what each rule of the class required.
    pub fn evaluate(&self, t: &TransferRequest<'_>) -> Decision {
        let mut failures = Vec::new();
        for r in self.rules.iter().filter(|r| r.class == t.class) {
            match r.check(t) {
                Ok(()) => {
                    return Decision::Allowed {
                        rule: r.name.clone(),
                        legal_basis: r.legal_basis.clone(),
                    };
                }
                Err(why) => failures.push(format!("rule {:?} {why}", r.name)),
            }
        }
        let reason = if failures.is_empty() {
            format!(
                "no rule lets {} data go from {} to {} (default deny)",
                t.class, t.from, t.to
            )
        } else {
            format!(
                "refused: {} data from {} to {} for {:?}: {}",
                t.class,
                t.from,
                t.to,
                t.purpose,
                failures.join("; ")
            )
        };
        Decision::Refused { reason }
    }
}

impl Rule {
    fn check(&self, t: &TransferRequest<'_>) -> Result<(), String> {
        if self.from != "*" && self.from != t.from {
            return Err(format!("applies only from {}", self.from));
        }
        if self.to != "*" && self.to != t.to {
            return Err(format!("applies only to {}", self.to));
        }
        if !self.purposes.iter().any(|p| p == t.purpose) {
            return Err(format!("allows only purposes {:?}", self.purposes));
        }
        if let Some(k) = self.min_distinct_people {
            match t.distinct_people {
                Some(n) if n >= k => {}
                Some(n) => {
                    return Err(format!(
                        "requires at least {k} distinct people, the value has {n}"
                    ));
                }
                None => {
                    return Err(format!(
                        "requires at least {k} distinct people, the count is unknown"
                    ));
                }
            }
        }
        Ok(())
    }
}

#[allow(clippy::expect_used)] // the embedded file is tested below; a broken one must not ship
static EMBEDDED: LazyLock<ResidencyPolicy> = LazyLock::new(|| {
    ResidencyPolicy::parse(RESIDENCY_POLICY_TOML).expect("policy/residency.toml is valid")
});

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(class: DataClass, purpose: &'a str, k: Option<u64>) -> TransferRequest<'a> {
        TransferRequest {
            from: "eu",
            to: "us",
            class,
            purpose,
            distinct_people: k,
        }
    }

    #[test]
    fn the_embedded_policy_parses_and_covers_every_home_bound_class() {
        let p = ResidencyPolicy::parse(RESIDENCY_POLICY_TOML).unwrap();
        for class in DataClass::ALL
            .into_iter()
            .filter(|c| c.bound_to_home_region())
        {
            assert!(p.rules.iter().any(|r| r.class == class
                && r.purposes == [PURPOSE_OWNER_MIGRATION.to_owned()]));
        }
    }

    #[test]
    fn public_counters_and_content_travel_anywhere() {
        let p = ResidencyPolicy::embedded();
        for purpose in [PURPOSE_PUBLIC_COUNTER, PURPOSE_SERVE_PUBLIC_CONTENT] {
            let d = p.evaluate(&req(DataClass::Public, purpose, None));
            assert_eq!(
                d,
                Decision::Allowed {
                    rule: "public-anywhere".into(),
                    legal_basis: p.rules[0].legal_basis.clone()
                }
            );
        }
        let d = p.evaluate(&req(DataClass::Public, "marketing", None));
        assert!(!d.allowed());
        assert!(d.reason().contains("\"public-anywhere\""), "{}", d.reason());
        assert!(
            d.reason().contains("allows only purposes"),
            "{}",
            d.reason()
        );
    }

    #[test]
    fn aggregates_need_k_distinct_people() {
        let p = ResidencyPolicy::embedded();
        assert!(
            p.evaluate(&req(DataClass::Aggregate, PURPOSE_PUBLIC_COUNTER, Some(5)))
                .allowed()
        );
        let d = p.evaluate(&req(DataClass::Aggregate, PURPOSE_PUBLIC_COUNTER, Some(4)));
        assert!(!d.allowed());
        assert!(
            d.reason()
                .contains("rule \"aggregate-k-anonymous\" requires at least 5 distinct people, the value has 4"),
            "{}",
            d.reason()
        );
        let d = p.evaluate(&req(DataClass::Aggregate, PURPOSE_PUBLIC_COUNTER, None));
        assert!(d.reason().contains("count is unknown"), "{}", d.reason());
    }

    #[test]
    fn home_bound_classes_never_travel_except_by_owner_migration() {
        let p = ResidencyPolicy::embedded();
        for class in DataClass::ALL
            .into_iter()
            .filter(|c| c.bound_to_home_region())
        {
            let d = p.evaluate(&req(class, PURPOSE_PUBLIC_COUNTER, Some(1000)));
            assert!(!d.allowed(), "{class}");
            assert!(
                d.reason()
                    .contains(&format!("rule \"{class}-owner-migration\"")),
                "{}",
                d.reason()
            );
            assert!(
                p.evaluate(&req(class, PURPOSE_OWNER_MIGRATION, None))
                    .allowed()
            );
        }
    }

    #[test]
    fn operational_data_has_no_rule_and_is_denied_by_default() {
        let d = ResidencyPolicy::embedded().evaluate(&req(
            DataClass::Operational,
            PURPOSE_PUBLIC_COUNTER,
            None,
        ));
        assert_eq!(
            d.reason(),
            "no rule lets operational data go from eu to us (default deny)"
        );
    }

    #[test]
    fn region_specific_rules_and_bad_files() {
        let p = ResidencyPolicy::parse(
            r#"[[rule]]
name = "eu-to-us-only"
class = "public"
from = "eu"
to = "us"
purposes = ["x"]
legal_basis = "test"
"#,
        )
        .unwrap();
        let mut t = req(DataClass::Public, "x", None);
        assert!(p.evaluate(&t).allowed());
        t.to = "ap";
        assert!(p.evaluate(&t).reason().contains("applies only to us"));
        t.from = "us";
        assert!(p.evaluate(&t).reason().contains("applies only from eu"));
        assert!(ResidencyPolicy::parse("[[rule]]\nname = \"x\"\nclass = \"nope\"").is_err());
        assert!(
            ResidencyPolicy::parse(
                "[[rule]]\nname=\"x\"\nclass=\"public\"\npurposes=[]\nlegal_basis=\"b\""
            )
            .is_err()
        );
        assert!(
            ResidencyPolicy::parse(
                "[[rule]]\nname=\"x\"\nclass=\"public\"\nfrom=\"EU!\"\npurposes=[\"p\"]\nlegal_basis=\"b\""
            )
            .is_err()
        );
    }
}
