/**
 * Kenyan places for the synthetic registry: the 47 counties of the 2010 Constitution (First Schedule, with
 * their official county codes 001–047), a few towns in each with a postal code, and the Huduma Centres
 * where citizens collect their cards.
 *
 * County names and codes are official. Towns and postal codes are plausible rather than authoritative (good
 * enough for addresses like "P.O. Box 1234-00100, Nairobi"); centre codes are Kadi's own scheme
 * `KE-<county code>-<nn>`, e.g. KE-047-01 for Huduma Centre GPO in Nairobi.
 */

export interface Town {
  name: string;
  /** Five-digit Posta Kenya code. */
  postalCode: string;
}

export interface County {
  /** Official three-digit county code, '001' (Mombasa) to '047' (Nairobi). */
  code: string;
  name: string;
  /** Towns; the first is the county headquarters or main town. */
  towns: readonly Town[];
}

/** A place where cards are collected (and where boxes of cards are shipped). */
export interface CollectionCentre {
  /** `KE-<county code>-<nn>`, e.g. KE-047-01. */
  code: string;
  name: string;
  /** County name, as in COUNTIES. */
  county: string;
}

const t = (spec: string): Town[] =>
  spec.split(';').map((s) => {
    const [name, postalCode] = s.split('=') as [string, string];
    return { name: name.trim(), postalCode: postalCode.trim() };
  });

export const COUNTIES: readonly County[] = [
  { code: '001', name: 'Mombasa', towns: t('Mombasa=80100;Likoni=80110;Kisauni=80122;Changamwe=80102') },
  { code: '002', name: 'Kwale', towns: t('Kwale=80403;Ukunda=80400;Msambweni=80404;Kinango=80405') },
  { code: '003', name: 'Kilifi', towns: t('Kilifi=80108;Malindi=80200;Mtwapa=80109;Mariakani=80113;Watamu=80202') },
  { code: '004', name: 'Tana River', towns: t('Hola=70101;Garsen=80201;Bura=70104') },
  { code: '005', name: 'Lamu', towns: t('Lamu=80500;Mpeketoni=80501;Witu=80503') },
  { code: '006', name: 'Taita-Taveta', towns: t('Voi=80300;Wundanyi=80304;Taveta=80302;Mwatate=80305') },
  { code: '007', name: 'Garissa', towns: t('Garissa=70100;Dadaab=70103;Masalani=70105') },
  { code: '008', name: 'Wajir', towns: t('Wajir=70200;Habaswein=70201;Griftu=70202') },
  { code: '009', name: 'Mandera', towns: t('Mandera=70300;Elwak=70301;Takaba=70302') },
  { code: '010', name: 'Marsabit', towns: t('Marsabit=60500;Moyale=60700;Laisamis=60502') },
  { code: '011', name: 'Isiolo', towns: t('Isiolo=60300;Merti=60302;Garbatulla=60301') },
  { code: '012', name: 'Meru', towns: t('Meru=60200;Maua=60600;Nkubu=60202;Timau=10406') },
  { code: '013', name: 'Tharaka-Nithi', towns: t('Chuka=60400;Marimanti=60403;Chogoria=60401') },
  { code: '014', name: 'Embu', towns: t('Embu=60100;Runyenjes=60103;Siakago=60104') },
  { code: '015', name: 'Kitui', towns: t('Kitui=90200;Mwingi=90400;Mutomo=90201') },
  { code: '016', name: 'Machakos', towns: t('Machakos=90100;Athi River=00204;Kangundo=90115;Tala=90131;Matuu=90119') },
  { code: '017', name: 'Makueni', towns: t('Wote=90300;Makindu=90138;Sultan Hamud=90132;Mtito Andei=90104') },
  { code: '018', name: 'Nyandarua', towns: t('Ol Kalou=20303;Engineer=20301;Njabini=20319') },
  { code: '019', name: 'Nyeri', towns: t('Nyeri=10100;Karatina=10101;Othaya=10104;Mukurweini=10103') },
  { code: '020', name: 'Kirinyaga', towns: t("Kerugoya=10300;Kutus=10304;Sagana=10230;Wang'uru=10303") },
  { code: '021', name: "Murang'a", towns: t("Murang'a=10200;Kangema=10202;Maragua=10205;Kandara=01034") },
  { code: '022', name: 'Kiambu', towns: t('Kiambu=00900;Thika=01000;Ruiru=00232;Limuru=00217;Kikuyu=00902;Githunguri=00216') },
  { code: '023', name: 'Turkana', towns: t('Lodwar=30500;Kakuma=30501;Lokichogio=30502;Lokichar=30503') },
  { code: '024', name: 'West Pokot', towns: t('Kapenguria=30600;Makutano=30604;Chepareria=30605;Sigor=30606') },
  { code: '025', name: 'Samburu', towns: t('Maralal=20600;Baragoi=20601;Wamba=20603') },
  { code: '026', name: 'Trans-Nzoia', towns: t('Kitale=30200;Endebess=30201;Kiminini=30209') },
  { code: '027', name: 'Uasin Gishu', towns: t("Eldoret=30100;Burnt Forest=30102;Turbo=30106;Moi's Bridge=30104") },
  { code: '028', name: 'Elgeyo-Marakwet', towns: t('Iten=30700;Kapsowar=30705;Chepkorio=30709') },
  { code: '029', name: 'Nandi', towns: t('Kapsabet=30300;Nandi Hills=30301;Mosoriot=30307') },
  { code: '030', name: 'Baringo', towns: t('Kabarnet=30400;Eldama Ravine=20103;Marigat=30403;Mogotio=20105') },
  { code: '031', name: 'Laikipia', towns: t('Nanyuki=10400;Nyahururu=20300;Rumuruti=20321') },
  { code: '032', name: 'Nakuru', towns: t('Nakuru=20100;Naivasha=20117;Molo=20106;Njoro=20107;Gilgil=20116') },
  { code: '033', name: 'Narok', towns: t('Narok=20500;Kilgoris=40700;Ololulunga=20504') },
  { code: '034', name: 'Kajiado', towns: t('Kajiado=01100;Kitengela=00241;Ngong=00208;Ongata Rongai=00511;Namanga=01101;Loitokitok=00209') },
  { code: '035', name: 'Kericho', towns: t('Kericho=20200;Litein=20210;Londiani=20203') },
  { code: '036', name: 'Bomet', towns: t('Bomet=20400;Sotik=20406;Longisa=20402') },
  { code: '037', name: 'Kakamega', towns: t('Kakamega=50100;Mumias=50102;Malava=50103;Butere=50101') },
  { code: '038', name: 'Vihiga', towns: t('Mbale=50300;Luanda=50307;Chavakali=50317') },
  { code: '039', name: 'Bungoma', towns: t('Bungoma=50200;Webuye=50205;Kimilili=50204;Chwele=50202') },
  { code: '040', name: 'Busia', towns: t('Busia=50400;Malaba=50405;Port Victoria=50410;Nambale=50409') },
  { code: '041', name: 'Siaya', towns: t('Siaya=40600;Bondo=40601;Ugunja=40606;Yala=40603') },
  { code: '042', name: 'Kisumu', towns: t('Kisumu=40100;Ahero=40101;Maseno=40105;Muhoroni=40107') },
  { code: '043', name: 'Homa Bay', towns: t('Homa Bay=40300;Mbita=40305;Oyugis=40311;Kendu Bay=40301') },
  { code: '044', name: 'Migori', towns: t('Migori=40400;Rongo=40404;Awendo=40405;Isebania=40411') },
  { code: '045', name: 'Kisii', towns: t('Kisii=40200;Ogembo=40204;Suneka=40223;Keroka=40202') },
  { code: '046', name: 'Nyamira', towns: t('Nyamira=40500;Nyansiongo=40506;Ekerenyo=40501') },
  { code: '047', name: 'Nairobi', towns: t('Nairobi=00100;Westlands=00800;Eastleigh=00610;Karen=00502;Embakasi=00501;Buruburu=00515;Kangemi=00625') },
];

/** Extra Huduma Centres beyond one per county (the county's main town), in the busiest counties. */
const EXTRA_CENTRES: Record<string, readonly string[]> = {
  '047': ['GPO', 'City Square', 'Eastleigh', 'Makadara', 'Kibra', 'Kasarani'],
  '001': ['Mombasa', 'Likoni'],
  '022': ['Kiambu', 'Thika', 'Ruiru'],
  '032': ['Nakuru', 'Naivasha'],
  '042': ['Kisumu', 'Ahero'],
  '037': ['Kakamega', 'Mumias'],
  '016': ['Machakos', 'Athi River'],
  '003': ['Kilifi', 'Malindi'],
};

/** The 60 Huduma Centres used as collection centres: at least one in each of the 47 counties. */
export const COLLECTION_CENTRES: readonly CollectionCentre[] = COUNTIES.flatMap((c) => {
  const names = EXTRA_CENTRES[c.code] ?? [c.towns[0]!.name];
  return names.map((n, i) => ({
    code: `KE-${c.code}-${String(i + 1).padStart(2, '0')}`,
    name: `Huduma Centre ${n}`,
    county: c.name,
  }));
});

export const COUNTY_BY_NAME: ReadonlyMap<string, County> = new Map(COUNTIES.map((c) => [c.name, c]));
export const COUNTY_BY_CODE: ReadonlyMap<string, County> = new Map(COUNTIES.map((c) => [c.code, c]));
export const CENTRE_BY_CODE: ReadonlyMap<string, CollectionCentre> = new Map(
  COLLECTION_CENTRES.map((c) => [c.code, c]),
);
/** Centres of each county, by county name. */
export const CENTRES_BY_COUNTY: ReadonlyMap<string, readonly CollectionCentre[]> = (() => {
  const m = new Map<string, CollectionCentre[]>();
  for (const c of COLLECTION_CENTRES) {
    const list = m.get(c.county) ?? [];
    list.push(c);
    m.set(c.county, list);
  }
  return m;
})();

/** Residential estates used for street-style addresses, by main town. */
export const ESTATES: Readonly<Record<string, readonly string[]>> = {
  Nairobi: [
    'Kilimani', 'Kileleshwa', 'Lavington', 'South B', 'South C', 'Umoja', 'Donholm', 'Kayole', 'Githurai',
    'Kasarani', 'Roysambu', 'Kawangware', 'Kibera', 'Pangani', 'Parklands', 'Langata', 'Runda', 'Zimmerman',
  ],
  Mombasa: ['Nyali', 'Bamburi', 'Tudor', 'Kizingo', 'Mtopanga', 'Bombolulu'],
  Kisumu: ['Milimani', 'Nyalenda', 'Manyatta', 'Kondele', 'Mamboleo'],
  Nakuru: ['Milimani', 'Section 58', 'Lanet', 'Shabab', 'Free Area'],
  Eldoret: ['Langas', 'Elgon View', 'Kapsoya', 'Pioneer'],
  Thika: ['Makongeni', 'Section 9', 'Landless'],
  Nyeri: ['Ruringu', 'Skuta', 'Kamakwa'],
};

export const STREETS: readonly string[] = [
  'Moi Avenue', 'Kenyatta Avenue', 'Ngong Road', 'Argwings Kodhek Road', 'Mombasa Road', 'Jogoo Road',
  'Thika Road', 'Waiyaki Way', 'Oginga Odinga Street', 'Kimathi Street', 'Haile Selassie Avenue',
  'Luthuli Avenue', 'Biashara Street', 'Nyerere Road', 'Digo Road', 'Market Street', 'Station Road',
];

/** Places of birth outside Kenya, for residents of other origins (several with accented Latin letters). */
export const FOREIGN_BIRTHPLACES: readonly string[] = [
  'Kampala', 'Dar es Salaam', 'Mogadishu', 'Addis Ababa', 'Mumbai', 'London', 'Zürich', 'München',
  'Düsseldorf', 'Malmö', 'Göteborg', 'København', 'Kraków', 'Łódź', 'İzmir', 'São Paulo', 'Bogotá',
  'Montréal', 'Besançon', 'A Coruña', 'Cork', 'Goa',
];
