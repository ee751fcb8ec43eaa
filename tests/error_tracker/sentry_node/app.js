// The real @sentry/node reporting one error to the DSN given as argv[2].
const Sentry = require("@sentry/node");

Sentry.init({ dsn: process.argv[2], tracesSampleRate: 0, defaultIntegrations: false });

function priceOf(sku) {
  const prices = { tea: 3 };
  if (!(sku in prices)) throw new TypeError(`no price for ${sku}`);
  return prices[sku];
}

try {
  priceOf("coffee");
} catch (error) {
  Sentry.captureException(error);
}
Sentry.flush(5000).then((sent) => process.exit(sent ? 0 : 1));
