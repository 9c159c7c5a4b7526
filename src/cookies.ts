// Cookie names of cookie mode (see README "Cookie mode for SPAs"). The prefixes make browsers
// enforce the attributes: __Host- = Secure, Path=/, no Domain; __Secure- = Secure.
export const ACCESS_COOKIE = 'edge_access'; // sent as __Host-edge_access
export const REFRESH_COOKIE = 'edge_refresh'; // sent as __Secure-edge_refresh
export const CSRF_COOKIE = 'edge_csrf'; // sent as __Host-edge_csrf, readable by the page
export const REFRESH_PATH = '/auth/refresh';
export const CSRF_HEADER = 'X-CSRF-Token';
