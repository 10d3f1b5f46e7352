// The HTTPS port's certificates: files named by the config (checked: key match, expiry, names
// covered), ACME issuance and renewal with its http-01 answers, and the manager that puts them
// in force for new handshakes without touching connected clients.

export {
  CertificateError,
  certificateNames,
  certificateWarnings,
  checkCertificate,
  covers,
  loadCertificateFiles,
  type LoadedCertificate,
} from "./certificates.ts";
export { TlsManager } from "./manager.ts";
export { ACME_ROUTES } from "./routes.ts";
