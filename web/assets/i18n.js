// English and Indonesian. Each page passes its own strings; the language is the one the user
// picked (kept in localStorage), else the browser's, else English.

export const LANGUAGES = ["en", "id"];
const KEY = "order-tracker.lang";

export function currentLanguage() {
  const chosen = localStorage.getItem(KEY);
  if (LANGUAGES.includes(chosen)) return chosen;
  const browser = (navigator.language || "en").slice(0, 2).toLowerCase();
  return LANGUAGES.includes(browser) ? browser : "en";
}

export function chooseLanguage(lang) {
  if (LANGUAGES.includes(lang)) localStorage.setItem(KEY, lang);
}

/** A translator over `strings` ({en: {...}, id: {...}}); `{name}` in a string is filled from `vars`. */
export function translator(strings, lang = currentLanguage()) {
  const table = strings[lang] || strings.en;
  return (key, vars = {}) => {
    const text = table[key] ?? strings.en[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
  };
}

/** Fills every `[data-i18n]` element's text (and `[data-i18n-placeholder]`'s placeholder). */
export function translatePage(t, root = document) {
  document.documentElement.lang = currentLanguage();
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
}

/** Status names, shared by every page. */
export const STATUS = {
  en: {
    pending: "Pending", confirmed: "Confirmed", preparing: "Preparing", ready: "Ready",
    shipped: "Shipped", delivered: "Delivered", cancelled: "Cancelled",
  },
  id: {
    pending: "Menunggu", confirmed: "Dikonfirmasi", preparing: "Diproses", ready: "Siap",
    shipped: "Dikirim", delivered: "Selesai", cancelled: "Dibatalkan",
  },
};

/** A time in the viewer's own time zone and language. */
export function formatTime(iso, lang = currentLanguage()) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(lang === "id" ? "id-ID" : "en-GB", {
    dateStyle: "medium", timeStyle: "short",
  }).format(new Date(iso));
}
