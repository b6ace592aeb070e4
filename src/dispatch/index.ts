/**
 * dispatch — boxes, shipments, manifests, tracking to collection centres, issuance, returns, blank stock and
 * reconciliation (issue 7). Pure parts: codes.ts (box/shipment/seal codes), rules.ts (scan and issuance rules),
 * manifest-format.ts (CSV/JSON rows), manifest-layout.ts (pagination), reconcile.ts computeBalance. PDF
 * rendering (manifest-pdf.ts, labels.ts, barcode.ts, pdf-text.ts) takes data and a stream, never the database.
 * Database work: boxes.ts (pack, seal, ship), tracking.ts (scans, histories), issuance.ts (issue, returns,
 * destroy, ageing), stock.ts, reconcile.ts, manifest.ts (streams the manifest files).
 */
export * from './codes.ts';
export * from './rules.ts';
export * from './errors.ts';
export * from './manifest-format.ts';
export * from './manifest-layout.ts';
export { FastFont, PageContent } from './pdf-text.ts';
export { ManifestPdfWriter, DEFAULT_FONTS, type ManifestPdfOptions } from './manifest-pdf.ts';
export { code128, qrCode, drawCode128, drawQr, CODE128_QUIET_MODULES, QR_QUIET_MODULES, type LinearSymbol, type MatrixSymbol } from './barcode.ts';
export { drawLabel, writeLabels, LABEL_SIZE, type LabelData, type LabelOptions, type LabelResult } from './labels.ts';
export {
  BUREAU_LOCATION,
  CARDS_IN_BOX_STATES,
  DEFAULT_BOX_CAPACITY,
  MAX_BOX_CAPACITY,
  ensureCentre,
  getBox,
  getShipment,
  listBoxes,
  listShipments,
  packCards,
  sealBox,
  shipBoxes,
  unpackCard,
  validateSealNumber,
  type BoxSummary,
  type PackOptions,
  type PackResult,
  type ShipOptions,
  type ShipResult,
  type ShipmentSummary,
} from './boxes.ts';
export { boxHistory, cardHistory, scanBox, shipmentHistory, type BoxHistory, type CardHistory, type HistoryEvent, type ScanOptions, type ScanResult, type ShipmentHistory } from './tracking.ts';
export {
  DEFAULT_AGEING_BUCKETS,
  DEFAULT_RETURN_AFTER_DAYS,
  RETURN_REASON,
  ageingReport,
  bucketLabels,
  destroyReturned,
  issueCard,
  returnUncollected,
  type AgeingReport,
  type AgeingRow,
  type DestroyOptions,
  type DestroyResult,
  type IssueOptions,
  type IssueResult,
  type ReturnOptions,
  type ReturnResult,
} from './issuance.ts';
export { MAX_LOT_QUANTITY, receiveBlankLot, stockReport, type LotStock, type ReceiveLotOptions } from './stock.ts';
export {
  BLANK_STATES,
  DIFFERENCE_CODES,
  EQUATION,
  computeBalance,
  reconcile,
  type BatchLine,
  type BlankBalance,
  type CentreLine,
  type Difference,
  type DifferenceCode,
  type LotInput,
  type LotLine,
  type Reconciliation,
} from './reconcile.ts';
export { MANIFEST_FORMATS, writeManifests, type ManifestFormat, type ManifestOptions, type ManifestResult } from './manifest.ts';
