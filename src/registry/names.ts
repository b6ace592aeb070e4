/**
 * Names for the synthetic registry, by community, roughly weighted like Kenya's 2019 census (Kikuyu, Luhya,
 * Kalenjin, Luo, Kamba, Somali, Kisii, Mijikenda, Meru/Embu, Maasai/Samburu, Turkana, Borana, Swahili,
 * Taita), plus Kenyans of Asian and Goan descent and residents of European, Turkish and Latin American
 * origin.
 *
 * The lists are chosen to exercise what MRZ and card-face code must get right:
 * - apostrophes, very common in Kenya: Ng'ang'a, Wang'ombe, Ochieng', Nyang'au, Kipng'eno, M'Ikiara, O'Brien;
 * - spaces inside a surname: Ole Sapit, Ole Ntimama (Maasai);
 * - accented Latin letters covered by ICAO 9303 Part 3 transliteration: Müller, Weiß, Åberg, Sørensen,
 *   Muñoz, Gonçalves, Özdemir, Yılmaz, Łukasz, Hélène, Jürgen.
 * Hyphenated (double-barrelled) names and long names are composed by the generator.
 */

export type CommunityName =
  | 'Kikuyu' | 'Luhya' | 'Kalenjin' | 'Luo' | 'Kamba' | 'Somali' | 'Kisii' | 'Mijikenda' | 'Meru'
  | 'Maasai' | 'Turkana' | 'Borana' | 'Swahili' | 'Taita' | 'Asian' | 'Goan' | 'European';

export interface Community {
  name: CommunityName;
  /** Relative weight in the population. */
  weight: number;
  /** County codes where the community mostly lives (first = heartland); empty = cities. */
  homeCounties: readonly string[];
  /** How given names are composed: 'christian' = English/biblical name + traditional name; 'muslim' = own
   * name + father's name; 'plain' = one or two names from the lists. */
  style: 'christian' | 'muslim' | 'plain';
  male: readonly string[];
  female: readonly string[];
  surnames: readonly string[];
  /** Born abroad with this probability. */
  bornAbroad?: number;
}

const w = (s: string): string[] => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0);

export const CHRISTIAN_MALE = w(
  'John, Joseph, Peter, David, James, Samuel, Daniel, Stephen, Paul, Michael, Francis, Charles, Joshua, Brian, ' +
    'Kevin, Dennis, Collins, Victor, Geoffrey, Patrick, George, Moses, Elijah, Evans, Wilson, Benson, Simon, ' +
    'Emmanuel, Isaac, Timothy, Anthony, Martin, Julius, Nicholas, Philip, Robert, Kennedy, Erick, Duncan, Felix',
);
export const CHRISTIAN_FEMALE = w(
  'Mary, Grace, Faith, Mercy, Esther, Jane, Ann, Lucy, Joyce, Elizabeth, Catherine, Margaret, Rose, Beatrice, ' +
    'Caroline, Purity, Sharon, Winnie, Eunice, Dorcas, Naomi, Ruth, Lydia, Christine, Nancy, Janet, Hellen, ' +
    'Beryl, Ivy, Susan, Agnes, Josephine, Teresia, Veronica, Damaris, Phyllis, Gladys, Irene, Brenda, Everlyne',
);
export const MUSLIM_MALE = w(
  'Abdi, Mohamed, Hassan, Ahmed, Ali, Abdirahman, Abdullahi, Ibrahim, Yusuf, Omar, Osman, Farah, Aden, ' +
    'Hussein, Mahat, Issack, Abdikadir, Dahir, Bashir, Ismail, Abdiaziz, Noor, Mukhtar, Adan',
);
export const MUSLIM_FEMALE = w(
  'Fatuma, Amina, Halima, Hawa, Khadija, Habiba, Maryan, Fardowsa, Sahra, Ifrah, Hodan, Asha, Deka, Naima, ' +
    'Ubah, Zamzam, Nasra, Ayan, Sadia, Hibo, Safia, Sagal',
);

export const COMMUNITIES: readonly Community[] = [
  {
    name: 'Kikuyu', weight: 17, style: 'christian',
    homeCounties: ['022', '019', '021', '020', '018', '031', '032', '047'],
    male: w("Kamau, Mwangi, Njoroge, Kariuki, Githinji, Ng'ang'a, Maina, Waweru, Gitau, Kimani, Macharia, " +
      "Karanja, Mugo, Wainaina, Ng'ethe, Kang'ethe, Wang'ombe, Mbugua, Muriithi, Gachanja, Ndung'u, Kinyanjui"),
    female: w("Wanjiku, Wambui, Njeri, Nyambura, Wairimu, Wanjiru, Wangari, Wang'ui, Njoki, Wangeci, Mumbi, " +
      "Waithera, Muthoni, Ng'endo, Nduta, Wacera, Wahu, Wamaitha, Gathoni, Nyokabi, Wangui"),
    surnames: w("Kamau, Mwangi, Njoroge, Kariuki, Ng'ang'a, Maina, Waweru, Kimani, Karanja, Gitau, Mbugua, " +
      "Kinyanjui, Muthee, Ndung'u, Ng'ethe, Wang'ombe, Kang'ethe, Gachanja, Thuo, Njenga, Mwaura, Gathogo, " +
      "Ng'ang'a, Wanyoike, Kiarie, Mugo, Irungu, Gicheru"),
  },
  {
    name: 'Luhya', weight: 14, style: 'christian',
    homeCounties: ['037', '039', '038', '040', '026'],
    male: w('Wafula, Wanjala, Barasa, Wekesa, Simiyu, Wanyama, Makokha, Shikuku, Mulongo, Khaemba, Wamalwa, ' +
      'Masinde, Nyongesa, Mukhwana, Juma, Wasike, Namwamba, Khisa'),
    female: w('Nafula, Nanjala, Nekesa, Nasimiyu, Naliaka, Nabwire, Namalwa, Nasambu, Ayuma, Khavere, Navalayo, ' +
      'Nelima, Nanzala, Mmbone'),
    surnames: w('Wafula, Wanjala, Barasa, Wekesa, Simiyu, Wanyama, Makokha, Shikuku, Khaemba, Wamalwa, Masinde, ' +
      'Nyongesa, Mukhwana, Were, Oduya, Wasike, Namwamba, Khisa, Lumumba, Amukowa, Shitanda'),
  },
  {
    name: 'Kalenjin', weight: 13, style: 'christian',
    homeCounties: ['027', '029', '035', '036', '028', '030', '024'],
    male: w("Kiprono, Kipchoge, Kipkemboi, Kiprotich, Kipng'eno, Kipng'etich, Kipruto, Kiplagat, Kipkorir, " +
      'Kibet, Cheruiyot, Kimutai, Kiptoo, Kipyegon, Kipsang, Kipkurui'),
    female: w("Chepkoech, Chepng'eno, Jepkosgei, Chebet, Jepchirchir, Chelimo, Jepkemboi, Cherono, Chepkemoi, " +
      'Jeruto, Chepkirui, Chemutai, Jelagat, Chepngetich'),
    surnames: w("Rotich, Kiprop, Koech, Cheruiyot, Langat, Ng'eno, Kirui, Korir, Mutai, Kosgei, Keter, " +
      "Chirchir, Bett, Too, Sang, Tanui, Rono, Ruto, Kiplagat, Lagat, Chepkwony, Ng'etich, Biwott, Kibii"),
  },
  {
    name: 'Luo', weight: 10.5, style: 'christian',
    homeCounties: ['042', '041', '043', '044'],
    male: w("Otieno, Ochieng', Odhiambo, Omondi, Onyango, Ouma, Okoth, Owino, Oduor, Okello, Ong'ondo, " +
      "Obong'o, Onyang'o, Otieno, Ogutu, Opiyo, Odongo, Oloo"),
    female: w("Achieng', Akinyi, Atieno, Adhiambo, Awuor, Anyango, Auma, Akoth, Apiyo, Awino, Aoko, Akello, " +
      'Adongo, Aluoch'),
    surnames: w("Otieno, Ochieng', Odhiambo, Omondi, Onyango, Ouma, Okoth, Owino, Oduor, Okello, Ong'ang'a, " +
      "Obong'o, Nyong'o, Ogola, Odinga, Oloo, Wasonga, Ochieng, Okumu, Obura, Ong'wen, Adongo"),
  },
  {
    name: 'Kamba', weight: 9.5, style: 'christian',
    homeCounties: ['016', '015', '017'],
    male: w('Mutua, Musyoka, Kioko, Mutinda, Muthama, Kilonzo, Mumo, Nzioka, Mwanzia, Ndambuki, Kyalo, Makau, ' +
      'Muia, Mbithi, Wambua, Mulwa, Musau'),
    female: w('Mwikali, Ndinda, Mueni, Mwende, Kanini, Nduku, Syokau, Mbithe, Kasyoka, Katunge, Ndanu, Mwongeli, ' +
      'Kavata, Mumbua, Syombua'),
    surnames: w('Mutua, Musyoka, Kioko, Mutinda, Kilonzo, Nzioka, Mwanzia, Ndambuki, Kyalo, Makau, Muia, ' +
      'Mbithi, Wambua, Kitheka, Mulwa, Musau, Muthama, Kalonzo, Nzomo'),
  },
  {
    name: 'Somali', weight: 5.5, style: 'muslim',
    homeCounties: ['007', '008', '009', '047'],
    male: MUSLIM_MALE,
    female: MUSLIM_FEMALE,
    surnames: w('Mohamed, Hassan, Abdi, Ahmed, Ali, Farah, Aden, Hussein, Osman, Ibrahim, Abdullahi, Omar, ' +
      'Yusuf, Gedi, Duale, Noor, Sheikh, Warsame, Dahir, Ismail, Jama, Abdikadir, Mohamud'),
  },
  {
    name: 'Kisii', weight: 5.5, style: 'christian',
    homeCounties: ['045', '046'],
    male: w("Nyamweya, Onchari, Ongeri, Nyakundi, Momanyi, Omwenga, Mogaka, Nyang'au, Ombati, Osoro, " +
      'Makori, Ondieki, Bosire, Ogeto, Nyabuto'),
    female: w('Moraa, Kerubo, Kemunto, Nyaboke, Bochaberi, Kwamboka, Nyanchama, Nyamoita, Bonareri, Mokeira, ' +
      'Nyakerario, Kemuma'),
    surnames: w("Nyamweya, Onchari, Ongeri, Nyakundi, Momanyi, Omwenga, Mogaka, Nyang'au, Ombati, Osoro, " +
      "Makori, Ondieki, Bosire, Ogeto, Mang'era, Nyabuto, Omari, Onyancha"),
  },
  {
    name: 'Mijikenda', weight: 5, style: 'christian',
    homeCounties: ['003', '002', '001'],
    male: w('Kazungu, Kahindi, Charo, Baya, Karisa, Kenga, Katana, Kalume, Ngala, Tsuma, Chai, Mramba, Nzai, ' +
      'Kombe, Jefwa, Tsofa, Mwaro, Kitsao'),
    female: w('Kadzo, Kache, Dama, Kanze, Sidi, Tabu, Riziki, Pendo, Furaha, Zawadi, Neema, Mapenzi, Kahonzi'),
    surnames: w('Kazungu, Kahindi, Charo, Baya, Karisa, Kenga, Katana, Kalume, Ngala, Tsuma, Chai, Mramba, ' +
      'Nzai, Kombe, Jefwa, Tsofa, Mwaro, Kitsao, Mwamburi, Kiti'),
  },
  {
    name: 'Meru', weight: 5, style: 'christian',
    homeCounties: ['012', '013', '014'],
    male: w('Mwenda, Kirimi, Murithi, Gitonga, Mutuma, Kinoti, Mugambi, Kaberia, Mwiti, Kiogora, Gikunda, ' +
      'Kimathi, Koome, Mbaabu, Njue, Nyaga, Ireri'),
    female: w('Kendi, Nkatha, Kagendo, Karimi, Makena, Gacheri, Kawira, Nkirote, Kinya, Ntinyari, Kanana, ' +
      'Mukiri, Kathure, Wawira, Igoki'),
    surnames: w("Mwenda, Kirimi, Murithi, Gitonga, Mutuma, Kinoti, Mugambi, Kaberia, Mwiti, Kiogora, Gikunda, " +
      "Koome, Mbaabu, M'Ikiara, M'Mwirichia, M'Arimi, M'Ithinji, Njue, Nyaga, Ireri, Muriuki"),
  },
  {
    name: 'Maasai', weight: 3, style: 'christian',
    homeCounties: ['033', '034', '025'],
    male: w('Saitoti, Sankale, Lemayian, Parsimei, Kaelo, Tajeu, Nkoitoi, Lenku, Kasaine, Meitamei, Lekishon, ' +
      'Lesuuda, Lekuton'),
    female: w('Naserian, Nashipai, Naeku, Nasieku, Resian, Soila, Nalangu, Namelok, Simaloi, Seleina, Nkirote'),
    surnames: w('Ole Sapit, Ole Kina, Ole Ntimama, Ole Kaelo, Ole Lenku, Ole Nkaissery, Ole Tiampati, Ole Metito, ' +
      'Ole Sankok, Saitoti, Sankale, Lemayian, Parsimei, Tajeu, Kasaine, Lenolkulal, Lesuuda, Lekuton'),
  },
  {
    name: 'Turkana', weight: 2, style: 'christian',
    homeCounties: ['023'],
    male: w('Ekai, Ekuwam, Lokol, Ewoi, Ebei, Ekidor, Lokorio, Ekeno, Ekiru, Lotukoi, Ereng, Lokaale, Nanok, ' +
      'Lomuria, Emathe'),
    female: w('Akiru, Akai, Akuwam, Akeno, Nakiru, Nangiro, Atabo, Adome, Amoit, Arot, Akaran'),
    surnames: w('Ekai, Ekuwam, Lokol, Ewoi, Ebei, Ekidor, Lokorio, Ekeno, Ekiru, Lotukoi, Ereng, Lokaale, Nanok, ' +
      'Lomuria, Emathe, Lopeyok, Ekal'),
  },
  {
    name: 'Borana', weight: 1.5, style: 'muslim',
    homeCounties: ['010', '011'],
    male: w('Guyo, Jillo, Boru, Dida, Wario, Galgalo, Halake, Roba, Godana, Tadicha, Abdub, Huka'),
    female: w('Qabale, Darmi, Halima, Amina, Fatuma, Hawo, Sadia, Asha, Dika, Elema'),
    surnames: w('Guyo, Jillo, Boru, Dida, Wario, Galgalo, Halake, Roba, Godana, Tadicha, Abdub, Huka, Golicha, Dabasso'),
  },
  {
    name: 'Swahili', weight: 1.5, style: 'muslim',
    homeCounties: ['001', '005', '004', '002'],
    male: w('Bakari, Hamisi, Rashid, Athman, Said, Salim, Omar, Mwinyi, Juma, Shee, Abdalla, Kassim'),
    female: w('Mwanaisha, Zainabu, Rehema, Saumu, Mwanajuma, Amina, Aisha, Mwanahawa, Salma, Fatma'),
    surnames: w('Bakari, Athman, Said, Salim, Mohamed, Shee, Abdalla, Mwinyi, Kombo, Hamisi, Bwana, Famau'),
  },
  {
    name: 'Taita', weight: 1, style: 'christian',
    homeCounties: ['006'],
    male: w('Mwakio, Mwadime, Mwangeka, Mwandawiro, Mghanga, Mwakisha, Mcharo, Mwashighadi'),
    female: w('Wakio, Wawuda, Mkamburi, Sechele, Wughanga, Wanjala'),
    surnames: w('Mwakio, Mwadime, Mwangeka, Mwandawiro, Mghanga, Mcharo, Mwazighe, Mwakulegwa'),
  },
  {
    name: 'Asian', weight: 1.2, style: 'plain',
    homeCounties: ['047', '001', '042', '032'],
    male: w('Rahul, Sanjay, Amit, Rajesh, Vikram, Harjeet, Anil, Nilesh, Kiran, Mukesh, Jayesh, Imran, Aly'),
    female: w('Priya, Anjali, Nimisha, Pooja, Harpreet, Reema, Sonal, Kavita, Shilpa, Zahra, Nazlin'),
    surnames: w('Patel, Shah, Sheth, Hirani, Kotecha, Rupani, Dhanani, Chande, Pandya, Singh, Bhatt, Mehta, ' +
      'Gill, Sandhu, Chandaria, Madhvani, Jivraj, Somaia, Visram'),
    bornAbroad: 0.15,
  },
  {
    name: 'Goan', weight: 0.5, style: 'plain',
    homeCounties: ['047', '001'],
    male: w('Francis, Anthony, Joaquim, Agnelo, Caetano, Joseph, Rudolph, Savio'),
    female: w('Maria, Conceição, Fátima, Lourdes, Anita, Bernadette, Ivette, Philomena'),
    surnames: w("D'Souza, D'Costa, D'Mello, D'Cruz, Fernandes, Pereira, Rodrigues, Gonçalves, Menezes, Noronha, " +
      'Pinto, Coelho, Gomes, Araújo'),
    bornAbroad: 0.3,
  },
  {
    name: 'European', weight: 1.8, style: 'plain',
    homeCounties: ['047', '001', '031', '003', '032'],
    male: w('Jürgen, Jörg, Günter, Björn, Sören, Søren, Øystein, François, Jérôme, José, Ramón, Iñigo, Ömer, ' +
      'Şükrü, Łukasz, Wojciech, Hans-Jürgen, Jean-Pierre, Liam, Seán, Máirtín, André, Stéphane, Nuño, Çağan'),
    female: w('Hélène, Élodie, Renée, Céline, Gaëlle, María, Inés, Begoña, Åsa, Märta, Bärbel, Käthe, Çağla, ' +
      'Gülşen, Małgorzata, Anne-Marie, Marie-Hélène, Siobhán, Aoife, Zoë, Anaïs, Noémie, Ingrid'),
    surnames: w("Müller, Schröder, Weiß, Groß, Köhler, Jäger, Günther, Voß, Åberg, Sørensen, Jönsson, Ångström, " +
      "Löfgren, Østergaard, Muñoz, Peña, Ibáñez, Núñez, Castaño, Ordóñez, Dupré, Lefèvre, Géraud, Özdemir, " +
      "Yılmaz, Çelik, Güneş, Öztürk, Wójcik, Wiśniewski, Dąbrowski, Łukasiewicz, O'Brien, O'Connor, O'Neill, " +
      "D'Arcy, MacAlister, Ó Súilleabháin, García Márquez, Van der Merwe"),
    bornAbroad: 0.55,
  },
];

/** Cumulative weights for picking a community with one uniform draw. */
const TOTAL_WEIGHT = COMMUNITIES.reduce((s, c) => s + c.weight, 0);

export function pickCommunity(u: number): Community {
  let x = u * TOTAL_WEIGHT;
  for (const c of COMMUNITIES) {
    x -= c.weight;
    if (x < 0) return c;
  }
  return COMMUNITIES[COMMUNITIES.length - 1]!;
}
