// Country of a listener's address for the statistics, from a MaxMind-format (.mmdb) database:
// the operator's own (`geoip_db`) or the bundled ip-location-db country file. Loaded once, on
// first use, off the streaming path; without a database every country is unknown.
//
// The bundled database is @ip-location-db/geo-whois-asn-country-mmdb (package licence CC0-1.0;
// its RIR data is CC BY 4.0 by the NRO, https://www.nro.net/, which asks for attribution). It
// is found through Node resolution from this file: under `deno run` in Deno's npm cache, in a
// `deno compile` binary in its embedded npm packages. A `deno bundle` output carries no data
// file, so resolution fails there and countries stay unknown (one log line says so).

// Everything the database needs (mmdb-lib, the bundled package, node:fs and node:module) is
// imported on first use: a server no listener has reached yet does not carry it (2-3 MiB of
// idle RSS under `deno run`, docs/PERFORMANCE.md). The imports are literal, so the package is
// still part of the module graph: fetched with the code, and embedded in a compiled binary.
import type { Reader, Response as MmdbRecord } from "mmdb-lib";

const BUNDLED_FILE = "@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb";
/** A country database bigger than this is refused (GeoLite2-City is ~70 MB). */
const MAX_DB_BYTES = 256 * 1024 * 1024;
const COUNTRY_CODE = /^[A-Z]{2}$/;
/** Decoded records kept: a country file has a few hundred; a city file must not grow it. */
const MAX_CACHED_RECORDS = 1024;

/** What an .mmdb record may hold: ip-location-db's `country_code`, or MaxMind's shape. */
interface CountryRecord {
  country_code?: unknown;
  country?: { iso_code?: unknown };
  registered_country?: { iso_code?: unknown };
}

/** Where the database comes from: the operator's file, or the bundled one. */
export interface GeoipSource {
  /** An absolute path (the operator's `geoip_db`), or undefined for the bundled database. */
  readonly path?: string;
}

/** A country lookup that loads its database on first use; see {@linkcode CountryLookup.ready}. */
export class CountryLookup {
  readonly path: string | undefined;
  #reader: Reader<MmdbRecord> | undefined;
  #loading: Promise<boolean> | undefined;
  #problem: string | undefined;
  readonly #onLoaded: (what: string, detail: Record<string, string | number | undefined>) => void;

  /**
   * `onLoaded` is told once how loading went: the database used, or why there is none (a
   * missing, oversized or invalid file, or no bundled data in this build).
   */
  constructor(
    source: GeoipSource,
    onLoaded: (what: string, detail: Record<string, string | number | undefined>) => void,
  ) {
    this.path = source.path;
    this.#onLoaded = onLoaded;
  }

  /** True once a database is loaded. */
  get isLoaded(): boolean {
    return this.#reader !== undefined;
  }

  /** Why there is no database, once loading failed. */
  get problem(): string | undefined {
    return this.#problem;
  }

  /** Loads the database (once; later calls share the first); resolves whether it loaded. */
  ready(): Promise<boolean> {
    this.#loading ??= this.#load();
    return this.#loading;
  }

  /**
   * The ISO 3166 code of `ip`, or "" when the database has none (private and reserved ranges)
   * or is not loaded (call {@linkcode ready} first). Never throws.
   */
  country(ip: string): string {
    const reader = this.#reader;
    if (!reader) return "";
    let record: CountryRecord | null;
    try {
      // Records are data from a file: read as unknown shape, checked below
      record = reader.get(ip.replace(/^::ffff:(?=\d+\.)/i, "")) as CountryRecord | null;
    } catch {
      return ""; // not an address mmdb-lib can parse
    }
    const code = record?.country_code ?? record?.country?.iso_code ??
      record?.registered_country?.iso_code;
    return typeof code === "string" && COUNTRY_CODE.test(code) ? code : "";
  }

  async #load(): Promise<boolean> {
    const started = performance.now();
    let modules;
    try {
      modules = await loadModules();
    } catch (err) {
      return this.#fail(`cannot load the GeoIP reader: ${(err as Error).message}`);
    }
    const { readFile, stat, createRequire, Reader, BUNDLED_PACKAGE } = modules;
    let path: string;
    try {
      path = this.path ?? createRequire(import.meta.url).resolve(BUNDLED_FILE);
    } catch {
      return this.#fail("no bundled GeoIP database in this build (set geoip_db to a .mmdb file)");
    }
    try {
      const { size } = await stat(path);
      if (size > MAX_DB_BYTES) {
        return this.#fail(`"${path}" is ${size} bytes, more than the ${MAX_DB_BYTES} allowed`);
      }
      const reader = new Reader<MmdbRecord>(await readFile(path), { cache: boundedCache() });
      this.#reader = reader;
      this.#onLoaded("GeoIP database loaded", {
        path,
        ...(this.path === undefined
          ? { bundled: `${BUNDLED_PACKAGE.name}@${BUNDLED_PACKAGE.version}` }
          : {}),
        type: reader.metadata.databaseType,
        built: reader.metadata.buildEpoch.toISOString().slice(0, 10),
        ms: Math.round(performance.now() - started),
      });
      return true;
    } catch (err) {
      return this.#fail(`cannot read "${path}": ${(err as Error).message}`);
    }
  }

  #fail(problem: string): boolean {
    this.#problem = problem;
    this.#onLoaded("GeoIP database unavailable, countries are recorded as unknown", { problem });
    return false;
  }
}

/** The modules reading a database needs, imported together on first use. */
async function loadModules() {
  const [fs, nodeModule, mmdb, bundled] = await Promise.all([
    import("node:fs/promises"),
    import("node:module"),
    import("mmdb-lib"),
    // Its version names the data in the log line.
    import("@ip-location-db/geo-whois-asn-country-mmdb/package.json", { with: { type: "json" } }),
  ]);
  return {
    readFile: fs.readFile,
    stat: fs.stat,
    createRequire: nodeModule.createRequire,
    Reader: mmdb.Reader,
    BUNDLED_PACKAGE: bundled.default as { name: string; version: string },
  };
}

/** mmdb-lib's record cache (by data offset), emptied when full: bounded, and cheap to keep. */
function boundedCache() {
  const records = new Map<string | number, unknown>();
  return {
    get: (key: string | number) => records.get(key),
    set: (key: string | number, value: unknown) => {
      if (records.size >= MAX_CACHED_RECORDS) records.clear();
      records.set(key, value);
    },
  };
}
