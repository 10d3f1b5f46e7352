// The API's branding routes (logo and favicon upload): TO BE WRITTEN (placeholder).

import type { ApiRoute } from "./_route.ts";

export const BRANDING_ROUTES: ApiRoute[] = [];
