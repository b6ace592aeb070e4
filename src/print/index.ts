/**
 * print: card faces for production batches. The layout model (template.ts, layout.ts) is pure; the Data Matrix
 * codec, the Visible Digital Seal codec/verifier, the PNG codec and the symbol locator are pure too. The adapters
 * are the pdfkit renderer (render.ts), pdftoppm PNG export (png-export.ts), the database side (store.ts,
 * batch.ts) and the seal signer keys (seal-keys.ts). Other folders import from here only.
 */
export {
  type CardTemplate, type TemplateElement, type TemplateSide, type SideName, type BindableField,
  ID1_WIDTH_MM, ID1_HEIGHT_MM, TD1_MRZ, BINDABLE_FIELDS, TemplateError, parseTemplate, resolveColor, placeholders,
} from './template.ts';
export {
  type FontMetrics, type TextMeasurer, type PathCmd, type DrawOp, type FaceData, type FitRule, type FitResult, type FitSpec,
  type StaticLayers, type CardSideLayout, PT_MM, fitText, formatDate, bindValue, layoutText, staticLayers, cardSide, mrzGeometry, signaturePath,
} from './layout.ts';
export { type OrderRecordData, type DocumentDates, type FaceInput, DEFAULT_VALIDITY_YEARS, documentDates, td1InputFor, faceData, sealDataFor } from './face.ts';
export {
  type SymbolSize, type DataMatrix, type DecodedDataMatrix, DataMatrixError, SYMBOL_SIZES, encodeDataMatrix, decodeDataMatrix, encodeCodewords, decodeCodewords,
  chooseSize, sizeFor, finderErrors, rsEncode, rsCorrect,
} from './datamatrix.ts';
export { type GreyImage, PngError, decodePng, encodeGreyPng, rasteriseModules } from './png.ts';
export { type LocatedSymbol, type LocateOptions, locateDataMatrix } from './locate.ts';
export { C40Error, encodeC40, decodeC40 } from './c40.ts';
export {
  type VdsHeader, type VdsFeature, type Vds, type IdSealData, type SealSubIndication, type SealVerification, type VerifySealOptions,
  VdsError, VDS_MAGIC, VDS_VERSION_3, VDS_VERSION_4, VDS_SIGNATURE_TAG, OID_VDS_SIGNER, KADI_ID_PROFILE,
  encodeVdsDate, decodeVdsDate, encodeVdsUnsigned, withSignature, ecdsaDerToRaw, signVds, decodeVds, idSealFeatures, readIdSealFeatures,
  findSealSigner, verifyVdsSignature, verifySeal, sealDigest,
} from './vds.ts';
export { readSealFromPng, sealFromHex } from './seal-read.ts';
export { type FaceArea, sealArea, rememberTemplate, knownTemplates } from './face-areas.ts';
export {
  type ImposeOptions, type CardWriterOptions, type CardRenderReport, type WriterStats,
  MM, ID1_PAGE_PT, SHEETS, RenderError, CardPdfWriter, renderCardPdf, loadTemplateFile, pdfkitMeasurer, templateMeasurer, resolveFontFiles,
} from './render.ts';
export { type PngExportOptions, exportPngs, pdftoppmAvailable } from './png-export.ts';
export {
  type SealKeyStore, type SealSignerRecord, type CreateSealSignerOptions, type SealKeyDeps,
  SealKeyError, sealSigners, activeSealSigner, sealTrustMaterial, sealSigningSession, createSealSigner, retireSealSigner,
} from './seal-keys.ts';
export {
  type BatchInfo, type BatchCardRow, type SealSigningResult, type SealSession, type PrintJob, type MarkResult,
  MISPRINT_REASONS, getBatch, batchCardStates, batchCards, cardRow, faceOf, signBatchSeals, signCardSeal, unsealedCount, createPrintJob, addJobCards, finishPrintJob,
  getPrintJob, listPrintJobs, jobCards, findCard, markCard, templateDigest,
} from './store.ts';
export { type PrintBatchOptions, type PrintBatchResult, printBatch } from './batch.ts';
