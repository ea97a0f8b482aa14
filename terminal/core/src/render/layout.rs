//! The standard certificate layouts on A4 portrait: 住民票の写し (世帯連記式, four persons a sheet, page marks and
//! the 契印 position on multi-sheet copies; 個人票), 住民票記載事項証明書, 転出証明書 and 印鑑登録証明書. Every sheet
//! carries the 認証文, the date in 和暦, the issuer with the 公印, the 発行番号 and the station's 管理番号. Data that
//! does not fit is refused with the item named; nothing is shrunk past legibility or cut off.

use std::sync::Arc;

use super::fonts::{FontRole, GlyphError, LoadedFont};
use super::page::{Color, Element, Page, TextRun};
use crate::certificate::{CertificateDocument, PersonEntry};
use crate::request::CertificateKind;

/// Persons on one sheet of a 世帯連記式 layout.
pub const PERSONS_PER_SHEET: usize = 4;

const LEFT: f32 = 15.0;
const WIDTH: f32 = 180.0;
const RIGHT: f32 = LEFT + WIDTH;
const THIN: f32 = 0.2;
const FRAME: f32 = 0.4;

/// The numbers printed on every sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetMarks {
    /// 発行番号.
    pub issue_number: String,
    /// 管理番号 of the station.
    pub control_number: String,
}

/// What a layout needs besides the document.
#[derive(Debug, Clone)]
pub struct LayoutInput<'a> {
    /// The content.
    pub document: &'a CertificateDocument,
    /// The 公印 image (PNG).
    pub official_seal_png: Arc<Vec<u8>>,
    /// The 印影 image (PNG), for a 印鑑登録証明書.
    pub seal_impression_png: Option<Arc<Vec<u8>>>,
    /// 発行番号 and 管理番号.
    pub marks: SheetMarks,
    /// Preview or training: every sheet carries 「見本」.
    pub specimen: bool,
}

/// Why a certificate cannot be laid out. Nothing reaches review in that case.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// A value is longer than its box even at the smallest allowed size.
    #[error("{item} does not fit its box ({width_mm:.1} mm wide at {size_pt} pt, the box is {box_mm:.1} mm): {text:?}")]
    TooLong {
        /// Which item (Japanese label and person).
        item: String,
        /// The text.
        text: String,
        /// Its width at the smallest size.
        width_mm: f32,
        /// The smallest size tried.
        size_pt: f32,
        /// The box width.
        box_mm: f32,
    },
    /// A 印鑑登録証明書 without its 印影.
    #[error("the seal impression image is missing")]
    MissingSealImage,
    /// More persons than the layout allows.
    #[error("{kind} can show {max} person(s); the request has {count}")]
    TooManyPersons {
        /// The certificate.
        kind: &'static str,
        /// How many were asked.
        count: usize,
        /// The maximum.
        max: usize,
    },
    /// No person to show.
    #[error("the certificate has no person")]
    NoPerson,
    /// A character no embedded font has.
    #[error("{item}: {source}")]
    Glyph {
        /// Which item.
        item: String,
        /// The missing glyph.
        source: GlyphError,
    },
}

impl LayoutError {
    /// The message for the UI.
    pub fn message_ja(&self) -> String {
        match self {
            LayoutError::TooLong { item, text, .. } => {
                format!("{item}「{text}」が欄に収まりません。記載内容を職員に確認してください")
            }
            LayoutError::MissingSealImage => "印影の画像がありません。印鑑登録の内容を確認してください".to_string(),
            LayoutError::TooManyPersons { kind, count, max } => {
                format!("{kind}には{max}人まで記載できます（請求は{count}人）")
            }
            LayoutError::NoPerson => "記載する住民が選択されていません".to_string(),
            LayoutError::Glyph { item, source } => format!("{item}：{}", source.message_ja()),
        }
    }
}

/// A sheet under construction.
struct Sheet {
    page: Page,
}

impl Sheet {
    fn new(specimen: bool) -> Sheet {
        let mut page = Page::a4();
        if specimen {
            // Drawn first, under the content, in light gray.
            for (x, y) in [(38.0, 120.0), (62.0, 235.0)] {
                page.elements.push(Element::Text(TextRun {
                    x_mm: x,
                    y_mm: y,
                    size_pt: 120.0,
                    font: FontRole::Gothic,
                    text: "見本".to_string(),
                    color: Color::SPECIMEN_GRAY,
                    rotation_deg: -30.0,
                }));
            }
        }
        Sheet { page }
    }

    fn text(&mut self, x: f32, y: f32, size_pt: f32, font: FontRole, text: &str) {
        self.page.elements.push(Element::Text(TextRun {
            x_mm: x,
            y_mm: y,
            size_pt,
            font,
            text: text.to_string(),
            color: Color::BLACK,
            rotation_deg: 0.0,
        }));
    }

    fn label(&mut self, x: f32, y: f32, text: &str) {
        self.text(x, y, 7.5, FontRole::Gothic, text);
    }

    /// Place `text` at the first of `sizes` at which it fits `box_mm`, or refuse naming `item`.
    fn fitted(
        &mut self,
        item: &str,
        (x, y): (f32, f32),
        box_mm: f32,
        sizes: &[f32],
        font: FontRole,
        text: &str,
    ) -> Result<(), LayoutError> {
        let loaded = LoadedFont::get(font).map_err(|source| LayoutError::Glyph { item: item.to_string(), source })?;
        let mut last = (0.0, 0.0);
        for size in sizes {
            let width =
                loaded.width_mm(text, *size).map_err(|source| LayoutError::Glyph { item: item.to_string(), source })?;
            if width <= box_mm {
                self.text(x, y, *size, font, text);
                return Ok(());
            }
            last = (width, *size);
        }
        Err(LayoutError::TooLong {
            item: item.to_string(),
            text: text.to_string(),
            width_mm: last.0,
            size_pt: last.1,
            box_mm,
        })
    }

    fn rule(&mut self, y: f32) {
        self.page.elements.push(Element::Rule { x1_mm: LEFT, y1_mm: y, x2_mm: RIGHT, y2_mm: y, width_mm: THIN });
    }

    fn frame(&mut self, x: f32, y: f32, w: f32, h: f32) {
        self.page.elements.push(Element::Box { x_mm: x, y_mm: y, w_mm: w, h_mm: h, width_mm: FRAME });
    }

    fn centered(&mut self, y: f32, size_pt: f32, font: FontRole, text: &str) -> Result<(), LayoutError> {
        let width = LoadedFont::get(font)
            .and_then(|f| f.width_mm(text, size_pt))
            .map_err(|source| LayoutError::Glyph { item: "表題".to_string(), source })?;
        self.text((210.0 - width) / 2.0, y, size_pt, font, text);
        Ok(())
    }
}

const NAME_SIZES: &[f32] = &[14.0, 12.0, 10.5];
const VALUE_SIZES: &[f32] = &[9.5, 8.5, 7.5];
const ADDRESS_SIZES: &[f32] = &[11.5, 10.0, 8.5];

fn person_label(index: usize, item: &str) -> String {
    format!("{}人目の{item}", index + 1)
}

/// One person's block of `height` mm at `top`.
fn person_block(
    sheet: &mut Sheet,
    index: usize,
    person: &PersonEntry,
    top: f32,
    height: f32,
) -> Result<(), LayoutError> {
    sheet.frame(LEFT, top, WIDTH, height);
    sheet.label(LEFT + 2.0, top + 4.5, "氏名");
    if let Some(furigana) = &person.furigana {
        sheet.fitted(
            &person_label(index, "振り仮名"),
            (LEFT + 20.0, top + 4.5),
            80.0,
            &[7.0, 6.0],
            FontRole::Gothic,
            furigana,
        )?;
    }
    sheet.fitted(
        &person_label(index, "氏名"),
        (LEFT + 20.0, top + 11.5),
        82.0,
        NAME_SIZES,
        FontRole::Mincho,
        &person.name,
    )?;
    sheet.label(LEFT + 106.0, top + 4.5, "生年月日");
    sheet.fitted(
        &person_label(index, "生年月日"),
        (LEFT + 106.0, top + 11.0),
        48.0,
        VALUE_SIZES,
        FontRole::Mincho,
        &person.birth_date,
    )?;
    sheet.label(LEFT + 158.0, top + 4.5, "性別");
    sheet.text(LEFT + 160.0, top + 11.0, 9.5, FontRole::Mincho, &person.sex);
    sheet.page.elements.push(Element::Rule {
        x1_mm: LEFT,
        y1_mm: top + 14.0,
        x2_mm: RIGHT,
        y2_mm: top + 14.0,
        width_mm: THIN,
    });

    // The items in their order on the form; absent ones (not asked, not recorded) take no line.
    let items = [
        ("旧氏", person.former_family_name.as_ref()),
        ("通称", person.common_name.as_ref()),
        ("続柄", person.relationship.as_ref()),
        ("住民となった年月日", Some(&person.became_resident_on)),
        ("住所を定めた年月日", person.address_fixed_on.as_ref()),
        ("転入前住所", person.previous_address.as_ref()),
        ("本籍・筆頭者", person.registry.as_ref()),
        ("住民票コード", person.resident_code.as_ref()),
        ("個人番号", person.individual_number.as_ref()),
    ];
    let lines: Vec<(&str, String)> =
        items.into_iter().filter_map(|(label, value)| value.map(|v| (label, v.clone()))).collect();
    let line_height = 4.6;
    let available = ((height - 16.0) / line_height).floor() as usize;
    if lines.len() > available {
        return Err(LayoutError::TooLong {
            item: person_label(index, "記載事項"),
            text: lines.iter().map(|(l, _)| *l).collect::<Vec<_>>().join("・"),
            width_mm: lines.len() as f32 * line_height,
            size_pt: VALUE_SIZES[0],
            box_mm: height - 16.0,
        });
    }
    for (row, (label, value)) in lines.iter().enumerate() {
        let y = top + 18.5 + row as f32 * line_height;
        sheet.label(LEFT + 2.0, y, label);
        sheet.fitted(
            &person_label(index, label),
            (LEFT + 32.0, y),
            WIDTH - 34.0,
            VALUE_SIZES,
            FontRole::Mincho,
            value,
        )?;
    }
    Ok(())
}

/// The footer every sheet carries.
fn footer(sheet: &mut Sheet, input: &LayoutInput<'_>, page_number: usize, pages: usize) -> Result<(), LayoutError> {
    let document = input.document;
    let top = 252.0;
    sheet.rule(top);
    sheet.fitted("認証文", (LEFT + 2.0, top + 7.0), 150.0, &[10.0, 9.0], FontRole::Gothic, &document.certification)?;
    sheet.fitted("証明日", (LEFT + 2.0, top + 14.0), 60.0, &[10.5], FontRole::Mincho, &document.certified_on)?;
    let issuer = format!("{}\u{3000}{}", document.issuer.head_title, document.issuer.head_name);
    sheet.fitted("首長の職名・氏名", (LEFT + 62.0, top + 24.0), 90.0, &[13.0, 11.0], FontRole::Mincho, &issuer)?;
    sheet.page.elements.push(Element::Image {
        x_mm: LEFT + 150.0,
        y_mm: top + 6.0,
        w_mm: 24.0,
        h_mm: 24.0,
        png: input.official_seal_png.clone(),
    });
    sheet.text(LEFT + 2.0, 291.0, 7.5, FontRole::Gothic, &format!("発行番号　{}", input.marks.issue_number));
    sheet.text(LEFT + 62.0, 291.0, 7.5, FontRole::Gothic, &format!("管理番号　{}", input.marks.control_number));
    if pages > 1 {
        sheet.text(LEFT + 150.0, 291.0, 7.5, FontRole::Gothic, &format!("{page_number}／{pages}頁"));
        // 契印: where staff seal across the joined sheets.
        sheet.page.elements.push(Element::Box { x_mm: 190.0, y_mm: 130.0, w_mm: 14.0, h_mm: 14.0, width_mm: THIN });
        sheet.text(192.0, 138.2, 6.0, FontRole::Gothic, "契印");
    }
    Ok(())
}

fn header(sheet: &mut Sheet, document: &CertificateDocument) -> Result<f32, LayoutError> {
    sheet.centered(20.0, 20.0, FontRole::Gothic, &document.title)?;
    let mut top = 27.0;
    sheet.frame(LEFT, top, WIDTH, 11.0);
    sheet.label(LEFT + 2.0, top + 4.0, "住所");
    sheet.fitted("住所", (LEFT + 20.0, top + 8.5), WIDTH - 22.0, ADDRESS_SIZES, FontRole::Mincho, &document.address)?;
    top += 11.0;
    if let Some(head) = &document.head_of_household {
        sheet.frame(LEFT, top, WIDTH, 9.0);
        sheet.label(LEFT + 2.0, top + 4.0, "世帯主");
        sheet.fitted("世帯主", (LEFT + 20.0, top + 7.5), 100.0, VALUE_SIZES, FontRole::Mincho, head)?;
        top += 9.0;
    }
    if let Some(move_out) = &document.move_out {
        sheet.frame(LEFT, top, WIDTH, 9.0);
        sheet.label(LEFT + 2.0, top + 4.0, "転出先");
        sheet.fitted(
            "転出先",
            (LEFT + 20.0, top + 7.5),
            100.0,
            VALUE_SIZES,
            FontRole::Mincho,
            &move_out.destination,
        )?;
        sheet.label(LEFT + 124.0, top + 4.0, "転出予定年月日");
        sheet.fitted(
            "転出予定年月日",
            (LEFT + 124.0, top + 7.8),
            54.0,
            VALUE_SIZES,
            FontRole::Mincho,
            &move_out.planned_on,
        )?;
        top += 9.0;
    }
    Ok(top + 2.0)
}

/// Lay out a resident-record style certificate (住民票の写し, 記載事項証明書, 転出証明書).
fn resident_record_sheets(input: &LayoutInput<'_>, max_per_sheet: usize) -> Result<Vec<Page>, LayoutError> {
    let persons = &input.document.persons;
    let chunks: Vec<&[PersonEntry]> = persons.chunks(max_per_sheet).collect();
    let pages = chunks.len();
    let mut out = Vec::with_capacity(pages);
    for (sheet_index, chunk) in chunks.iter().enumerate() {
        let mut sheet = Sheet::new(input.specimen);
        let top = header(&mut sheet, input.document)?;
        let height =
            if max_per_sheet == 1 { (250.0 - top).min(120.0) } else { (250.0 - top) / PERSONS_PER_SHEET as f32 };
        for (offset, person) in chunk.iter().enumerate() {
            let index = sheet_index * max_per_sheet + offset;
            person_block(&mut sheet, index, person, top + offset as f32 * height, height)?;
        }
        footer(&mut sheet, input, sheet_index + 1, pages)?;
        out.push(sheet.page);
    }
    Ok(out)
}

/// Lay out a 印鑑登録証明書.
fn seal_sheet(input: &LayoutInput<'_>) -> Result<Vec<Page>, LayoutError> {
    let document = input.document;
    let impression = input.seal_impression_png.clone().ok_or(LayoutError::MissingSealImage)?;
    let Some(person) = document.persons.first() else { return Err(LayoutError::NoPerson) };
    let mut sheet = Sheet::new(input.specimen);
    sheet.centered(24.0, 20.0, FontRole::Gothic, &document.title)?;
    // 印影 box: the impression fits within 25 mm square; the box leaves a margin around it.
    sheet.frame(75.0, 40.0, 60.0, 60.0);
    sheet.label(77.0, 44.5, "印影");
    sheet.page.elements.push(Element::Image { x_mm: 87.5, y_mm: 52.5, w_mm: 35.0, h_mm: 35.0, png: impression });
    let rows: Vec<(&str, String, FontRole, &[f32])> = vec![
        ("氏名", person.name.clone(), FontRole::Mincho, NAME_SIZES),
        ("旧氏", person.former_family_name.clone().unwrap_or_default(), FontRole::Mincho, VALUE_SIZES),
        ("生年月日", person.birth_date.clone(), FontRole::Mincho, VALUE_SIZES),
        ("性別", person.sex.clone(), FontRole::Mincho, VALUE_SIZES),
        ("住所", document.address.clone(), FontRole::Mincho, ADDRESS_SIZES),
    ];
    let mut top = 110.0;
    for (label, value, font, sizes) in rows {
        if value.is_empty() {
            continue;
        }
        sheet.frame(LEFT, top, WIDTH, 14.0);
        sheet.label(LEFT + 2.0, top + 5.0, label);
        sheet.fitted(label, (LEFT + 30.0, top + 10.0), WIDTH - 32.0, sizes, font, &value)?;
        top += 14.0;
    }
    if let Some(seal) = &document.seal {
        sheet.label(LEFT + 2.0, top + 6.0, "登録年月日");
        sheet.text(LEFT + 30.0, top + 6.0, 9.0, FontRole::Mincho, &seal.registered_on);
    }
    footer(&mut sheet, input, 1, 1)?;
    Ok(vec![sheet.page])
}

/// Lay out a certificate.
pub fn layout(input: &LayoutInput<'_>) -> Result<Vec<Page>, LayoutError> {
    let document = input.document;
    let count = document.persons.len();
    if count == 0 {
        return Err(LayoutError::NoPerson);
    }
    match document.kind {
        CertificateKind::ResidentRecordIndividual | CertificateKind::SealCertificate if count > 1 => {
            Err(LayoutError::TooManyPersons { kind: document.kind.title_ja(), count, max: 1 })
        }
        CertificateKind::SealCertificate => seal_sheet(input),
        CertificateKind::ResidentRecordIndividual => resident_record_sheets(input, 1),
        CertificateKind::ResidentRecordHousehold
        | CertificateKind::ResidentRecordItems
        | CertificateKind::MoveOutCertificate => resident_record_sheets(input, PERSONS_PER_SHEET),
    }
}

/// Lay out a 照会書兼回答書 (印鑑登録): the registrant's address and name for a window envelope, the ward as sender,
/// the 照会 with its deadline, and the 回答書 the registrant fills in, seals and brings back. A letter, not a
/// certificate: no 発行番号, 管理番号 or 公印.
pub fn inquiry_letter(letter: &crate::inquiry::InquiryLetter, specimen: bool) -> Result<Vec<Page>, LayoutError> {
    use crate::wareki::date_label;
    let mut sheet = Sheet::new(specimen);
    sheet.text(140.0, 18.0, 9.0, FontRole::Mincho, &format!("照会番号　第{:06}号", letter.case_id));
    sheet.text(140.0, 24.0, 9.0, FontRole::Mincho, &date_label(letter.written_on));
    // The address block sits where a window envelope shows it.
    sheet.text(LEFT + 5.0, 30.0, 10.0, FontRole::Mincho, &format!("〒{}", letter.postal_code));
    sheet.fitted("住所", (LEFT + 5.0, 37.0), 95.0, ADDRESS_SIZES, FontRole::Mincho, &letter.address)?;
    sheet.fitted(
        "氏名",
        (LEFT + 5.0, 48.0),
        85.0,
        NAME_SIZES,
        FontRole::Mincho,
        &format!("{}　様", letter.addressee),
    )?;
    let sender = format!("{}　{}", letter.issuer.head_title, letter.issuer.head_name);
    sheet.fitted("差出人", (120.0, 62.0), RIGHT - 120.0, VALUE_SIZES, FontRole::Mincho, &sender)?;
    sheet.centered(78.0, 18.0, FontRole::Gothic, "印鑑登録照会書")?;
    let mut y = 92.0;
    for line in letter.body_ja() {
        sheet.fitted("本文", (LEFT + 5.0, y), WIDTH - 10.0, &[10.0, 9.0, 8.0], FontRole::Mincho, &line)?;
        y += 7.0;
    }
    y += 3.0;
    let rows = [
        ("申請者の氏名", letter.addressee.clone(), NAME_SIZES),
        ("生年月日", letter.birth_date.clone(), VALUE_SIZES),
        ("住所", letter.address.clone(), ADDRESS_SIZES),
        ("回答期限", format!("{}（この日まで）", date_label(letter.deadline)), NAME_SIZES),
    ];
    for (label, value, sizes) in rows {
        sheet.frame(LEFT, y, WIDTH, 12.0);
        sheet.label(LEFT + 2.0, y + 7.0, label);
        sheet.fitted(label, (LEFT + 32.0, y + 8.5), WIDTH - 34.0, sizes, FontRole::Mincho, &value)?;
        y += 12.0;
    }
    y += 8.0;
    sheet.text(LEFT, y, 7.5, FontRole::Gothic, "― この用紙は切り離さずにお持ちください ―");
    sheet.rule(y + 3.0);
    sheet.centered(y + 16.0, 16.0, FontRole::Gothic, "回答書")?;
    sheet.fitted(
        "宛先",
        (LEFT + 5.0, y + 26.0),
        WIDTH - 10.0,
        VALUE_SIZES,
        FontRole::Mincho,
        &format!("{}　様", letter.issuer.head_title),
    )?;
    let statement = format!(
        "私は、{}に印鑑登録を申請したことに相違ありません（照会番号　第{:06}号）。",
        date_label(letter.written_on),
        letter.case_id
    );
    sheet.fitted("回答文", (LEFT + 5.0, y + 34.0), WIDTH - 10.0, &[10.0, 9.0, 8.0], FontRole::Mincho, &statement)?;
    let top = y + 40.0;
    for (index, label) in ["回答日　　　　　年　　　月　　　日", "住所", "氏名（自署）"].iter().enumerate()
    {
        let row = top + index as f32 * 12.0;
        sheet.frame(LEFT, row, 120.0, 12.0);
        sheet.text(LEFT + 2.0, row + 7.5, 9.0, FontRole::Mincho, label);
    }
    // The seal to be registered is pressed here.
    sheet.frame(LEFT + 125.0, top, 55.0, 36.0);
    sheet.label(LEFT + 127.0, top + 5.0, "登録する印鑑");
    Ok(vec![sheet.page])
}
