// The API's statistics routes: TO BE WRITTEN (placeholder with the final export).

import type { ApiRoute } from "./_route.ts";

export const STATS_ROUTES: ApiRoute[] = [];
