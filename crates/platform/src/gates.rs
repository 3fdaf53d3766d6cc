//! Visibility gates: the filters other subsystems (trust & safety, minors' protection,
//! territorial restrictions) install on every surface that shows a video. A video a gate
//! refuses is never shown on that surface, whichever source found it, and the refusal carries
//! the gate's reason (a direct link answers with it; a feed simply leaves the video out).
//!
//! Two ways to write a gate: [`VisibilityGate`] sees the surface and returns a reason;
//! [`FeedGate`] is the simple form (a yes/no for every surface), and every `FeedGate` is a
//! `VisibilityGate`.

use reelm_core::{RegionId, UserId};
use reelm_store::VideoRow;

/// Where a video is about to be shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Surface {
    ForYou,
    Following,
    /// A creator's profile grid.
    Profile,
    /// The video page and its media, reached by a link.
    DirectLink,
    /// The video's comments.
    Comments,
    Search,
    /// The media bytes and poster.
    Media,
}

impl Surface {
    pub const ALL: [Surface; 7] = [
        Surface::ForYou,
        Surface::Following,
        Surface::Profile,
        Surface::DirectLink,
        Surface::Comments,
        Surface::Search,
        Surface::Media,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Surface::ForYou => "for_you",
            Surface::Following => "following",
            Surface::Profile => "profile",
            Surface::DirectLink => "direct_link",
            Surface::Comments => "comments",
            Surface::Search => "search",
            Surface::Media => "media",
        }
    }
}

/// A viewer's age band, as far as the platform knows it (from the birth date given at sign-up).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AgeBand {
    Under13,
    Age13To15,
    Age16To17,
    Adult,
}

impl AgeBand {
    /// The band of a person born on `birth_date` (`YYYY-MM-DD`) as of `today` (`YYYY-MM-DD`);
    /// `None` when either does not parse.
    pub fn on(birth_date: &str, today: &str) -> Option<AgeBand> {
        fn ymd(s: &str) -> Option<(i32, u32, u32)> {
            let mut it = s.splitn(3, '-');
            Some((
                it.next()?.parse().ok()?,
                it.next()?.parse().ok()?,
                it.next()?.parse().ok()?,
            ))
        }
        let (by, bm, bd) = ymd(birth_date)?;
        let (ty, tm, td) = ymd(today)?;
        let mut age = ty - by;
        if (tm, td) < (bm, bd) {
            age -= 1;
        }
        Some(match age {
            i32::MIN..13 => AgeBand::Under13,
            13..16 => AgeBand::Age13To15,
            16..18 => AgeBand::Age16To17,
            _ => AgeBand::Adult,
        })
    }

    pub fn is_minor(self) -> bool {
        self != AgeBand::Adult
    }
}

/// Who is looking, as the gates see it. Signed-out viewers have only what the edge knows.
#[derive(Clone, Debug, Default)]
pub struct Audience {
    /// The viewer's home region; `None` when signed out.
    pub region: Option<RegionId>,
    pub user: Option<UserId>,
    /// The viewer's country (ISO 3166-1 alpha-2), when known.
    pub country: Option<String>,
    /// The viewer's age band, when known.
    pub age_band: Option<AgeBand>,
}

/// Why a gate refused a video.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The gate that refused.
    pub gate: String,
    /// What the viewer (or the creator, for their own video) may read.
    pub reason: String,
}

/// A filter on every surface that shows a video.
pub trait VisibilityGate: Send + Sync {
    /// A short name for logs, refusals and docs.
    fn name(&self) -> &str;
    /// `Err` with the reason when `video` must not be shown to `audience` on `surface`.
    fn check(&self, surface: Surface, audience: &Audience, video: &VideoRow)
    -> Result<(), Refusal>;
}

/// The simple form of a gate: the same yes or no on every surface.
pub trait FeedGate: Send + Sync {
    /// A short name for logs and docs.
    fn name(&self) -> &str;
    fn admits(&self, audience: &Audience, video: &VideoRow) -> bool;
}

impl<T: FeedGate> VisibilityGate for T {
    fn name(&self) -> &str {
        FeedGate::name(self)
    }

    fn check(&self, _: Surface, audience: &Audience, video: &VideoRow) -> Result<(), Refusal> {
        if self.admits(audience, video) {
            Ok(())
        } else {
            Err(Refusal {
                gate: FeedGate::name(self).to_owned(),
                reason: format!("not available here ({})", FeedGate::name(self)),
            })
        }
    }
}

/// The platform's own gate: a video that screening restricted in some regions is never shown
/// to viewers homed there (on any surface). Every [`Gates`] applies it first.
pub struct ScreeningRestrictions;

impl VisibilityGate for ScreeningRestrictions {
    fn name(&self) -> &str {
        "screening-restrictions"
    }

    fn check(&self, _: Surface, audience: &Audience, video: &VideoRow) -> Result<(), Refusal> {
        match &audience.region {
            Some(region) if video.restricted_in(region.as_str()) => Err(Refusal {
                gate: "screening-restrictions".into(),
                reason: format!("not available in your region ({region})"),
            }),
            _ => Ok(()),
        }
    }
}

/// The installed gates after the built-in [`ScreeningRestrictions`], applied in order; the
/// first refusal wins.
#[derive(Clone, Default)]
pub struct Gates(pub(crate) Vec<std::sync::Arc<dyn VisibilityGate>>);

impl Gates {
    /// `Err` with the first refusal when some gate refuses.
    pub fn check(
        &self,
        surface: Surface,
        audience: &Audience,
        video: &VideoRow,
    ) -> Result<(), Refusal> {
        ScreeningRestrictions.check(surface, audience, video)?;
        self.0
            .iter()
            .try_for_each(|g| g.check(surface, audience, video))
    }

    /// True when every gate admits `video`.
    pub fn admits(&self, surface: Surface, audience: &Audience, video: &VideoRow) -> bool {
        self.check(surface, audience, video).is_ok()
    }

    /// True when a gate besides the built-in one is installed: only then does the audience
    /// need the viewer's country and age band (opened from their sealed account).
    pub fn need_person_details(&self) -> bool {
        !self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gates_applies_screening_restrictions_first() {
        let mut v = crate::testing_video();
        v.restricted_regions = "ap eu".into();
        let gates = Gates::default();
        let at = |r: &str| Audience {
            region: Some(RegionId::new(r).unwrap()),
            ..Default::default()
        };
        let refused = gates.check(Surface::ForYou, &at("eu"), &v).unwrap_err();
        assert_eq!(refused.gate, "screening-restrictions");
        assert!(gates.admits(Surface::Media, &at("us"), &v));
        // Signed out, the region is unknown: the edge cannot tell, so the video is shown.
        assert!(gates.admits(Surface::Media, &Audience::default(), &v));
    }

    #[test]
    fn age_bands_turn_on_birthdays() {
        assert_eq!(
            AgeBand::on("2010-06-15", "2023-06-14"),
            Some(AgeBand::Under13)
        );
        assert_eq!(
            AgeBand::on("2010-06-15", "2023-06-15"),
            Some(AgeBand::Age13To15)
        );
        assert_eq!(
            AgeBand::on("2010-06-15", "2026-06-15"),
            Some(AgeBand::Age16To17)
        );
        assert_eq!(
            AgeBand::on("2008-01-01", "2026-01-01"),
            Some(AgeBand::Adult)
        );
        assert_eq!(AgeBand::on("not a date", "2026-01-01"), None);
    }
}
