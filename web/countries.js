// ISO 3166-1 alpha-2 country codes for the sign-up form. Names come from the browser's
// Intl.DisplayNames so they follow the visitor's language without shipping a translation table.

const CODES = (
  'AD AE AF AG AI AL AM AO AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BW BY BZ ' +
  'CA CD CF CG CH CI CK CL CM CN CO CR CU CV CW CY CZ DE DJ DK DM DO DZ EC EE EG ER ES ET FI FJ FK FM FO FR ' +
  'GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GT GU GW GY HK HN HR HT HU ID IE IL IM IN IQ IR IS IT JE JM JO JP ' +
  'KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ ' +
  'MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PR PS PT PW PY QA ' +
  'RE RO RS RU RW SA SB SC SD SE SG SH SI SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TG TH TJ TK TL TM TN TO TR ' +
  'TT TV TW TZ UA UG US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW'
).split(' ');

// English fallbacks for the most common choices, in case Intl.DisplayNames is unavailable.
const FALLBACK = {
  AT: 'Austria', BE: 'Belgium', BG: 'Bulgaria', BR: 'Brazil', CA: 'Canada', CH: 'Switzerland', CY: 'Cyprus',
  CZ: 'Czechia', DE: 'Germany', DK: 'Denmark', EE: 'Estonia', ES: 'Spain', FI: 'Finland', FR: 'France',
  GB: 'United Kingdom', GR: 'Greece', HR: 'Croatia', HU: 'Hungary', IE: 'Ireland', IN: 'India', IS: 'Iceland',
  IT: 'Italy', JP: 'Japan', LI: 'Liechtenstein', LT: 'Lithuania', LU: 'Luxembourg', LV: 'Latvia', MT: 'Malta',
  MX: 'Mexico', NL: 'Netherlands', NO: 'Norway', PL: 'Poland', PT: 'Portugal', RO: 'Romania', SE: 'Sweden',
  SI: 'Slovenia', SK: 'Slovakia', US: 'United States', AU: 'Australia', SG: 'Singapore', KR: 'South Korea',
};

/** `[{code, name}]` sorted by name in the visitor's language. */
export function countries() {
  let names = null;
  try {
    names = new Intl.DisplayNames([navigator.language || 'en', 'en'], { type: 'region' });
  } catch {
    names = null;
  }
  const list = CODES.map((code) => {
    let name = FALLBACK[code] || code;
    try {
      if (names) name = names.of(code) || name;
    } catch {
      // Unknown to this browser: keep the fallback.
    }
    return { code, name };
  });
  const collator = new Intl.Collator(navigator.language || 'en');
  return list.sort((a, b) => collator.compare(a.name, b.name));
}

/** Short human names for the region ids the server uses ("eu" -> "EU"); unknown ids as they are. */
export function regionLabel(id) {
  const names = { eu: 'EU', us: 'US', ap: 'Asia-Pacific' };
  return names[id] || String(id).toUpperCase();
}
