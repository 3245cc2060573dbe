// Maps (Leaflet, vendored): a delivery's driver and destination, and the staff board's fleet.
//
// Leaflet and its stylesheet load the first time a page draws a map, so a page that never shows
// one stays small. Tiles come from `map.tile_url` (GET /api/map); with none configured the map
// draws its markers and the route on a plain background, and nothing loads from another host.
// Markers are vector circles (no marker images), and each map writes what it shows into data-
// attributes (data-driver-lat, ...) so that tests and assistive tools can read it.

const LEAFLET_JS = "/assets/vendor/leaflet/leaflet.js";
const LEAFLET_CSS = "/assets/vendor/leaflet/leaflet.css";
const MAX_ZOOM = 18;
/** Beyond this (metres) an accuracy circle would cover the map and say little. */
const MAX_DRAWN_ACCURACY = 2000;

let leaflet = null;
let settings = null;

function load(tag, props) {
  return new Promise((resolve, reject) => {
    const el = Object.assign(document.createElement(tag), props);
    el.onload = resolve;
    el.onerror = () => reject(new Error(`${props.src || props.href} did not load`));
    document.head.append(el);
  });
}

/** Leaflet's `L`, loading the library and its stylesheet once. */
export function loadLeaflet() {
  if (window.L) return Promise.resolve(window.L);
  leaflet ??= Promise.all([
    load("link", { rel: "stylesheet", href: LEAFLET_CSS }),
    load("script", { src: LEAFLET_JS }),
  ]).then(() => window.L);
  return leaflet;
}

/** The site's tiles: {tile_url, attribution}; none when the answer cannot be had. */
export function mapSettings() {
  settings ??= fetch("/api/map", { headers: { Accept: "application/json" } })
    .then((answer) => (answer.ok ? answer.json() : null))
    .then((envelope) => envelope?.data ?? { tile_url: "", attribution: "" })
    .catch(() => ({ tile_url: "", attribution: "" }));
  return settings;
}

/** Text as Leaflet's attribution (which it treats as HTML) shows it: as text. */
function asText(text) {
  const el = document.createElement("span");
  el.textContent = text;
  return el.innerHTML;
}

/** A Leaflet map in `el`, with the site's tiles if it has any. */
async function createMap(el) {
  const [L, tiles] = await Promise.all([loadLeaflet(), mapSettings()]);
  const map = L.map(el, { minZoom: 2, maxZoom: MAX_ZOOM, attributionControl: false });
  // Leaflet measures its container once; a container shown, hidden or resized since (a phone
  // turned, a section that appears) is measured again, keeping the centre where it was.
  new ResizeObserver(() => {
    if (el.clientWidth && el.clientHeight) map.invalidateSize();
  }).observe(el);
  if (tiles.tile_url) {
    L.control.attribution({ prefix: false }).addTo(map);
    L.tileLayer(tiles.tile_url, { maxZoom: MAX_ZOOM, attribution: asText(tiles.attribution || "") }).addTo(map);
  } else {
    el.classList.add("map-plain");
  }
  return { L, map };
}

/** A tooltip's content as a node (Leaflet would read a string as HTML). */
function label(text) {
  const el = document.createElement("span");
  el.textContent = text;
  return el;
}

const DRIVER_STYLE = { radius: 9, color: "#fff", weight: 3, fillColor: "#0b6bcb", fillOpacity: 1 };
const DESTINATION_STYLE = { radius: 8, color: "#1a7f37", weight: 4, fillColor: "#fff", fillOpacity: 1 };

/** One delivery: where the driver is and where the order goes, with a dashed line between. */
export class DeliveryMap {
  /** `labels`: {driver, destination}, the tooltips' words. */
  constructor(el, labels = { driver: "Driver", destination: "Destination" }) {
    this.el = el;
    this.labels = labels;
    this.destination = null;
    this.driver = null;
    this.drawn = null;
    this.fitted = false;
    this.queue = Promise.resolve();
  }

  /** Shows `destination` ({lat,lng} or null) and the driver's `location` ({lat,lng,accuracy}
   *  or null); both null clears the map. Calls are applied in order. */
  show(destination, location) {
    this.destination = point(destination);
    this.driver = point(location) && { ...point(location), accuracy: finite(location.accuracy) };
    this.writeData();
    this.queue = this.queue.then(() => this.draw()).catch(() => {});
    return this.queue;
  }

  /** Forgets the view, so the next order's points are fitted afresh. */
  reset() {
    this.fitted = false;
    return this.show(null, null);
  }

  writeData() {
    const set = (name, value) => {
      if (value === null || value === undefined) delete this.el.dataset[name];
      else this.el.dataset[name] = String(value);
    };
    set("driverLat", this.driver?.lat);
    set("driverLng", this.driver?.lng);
    set("destinationLat", this.destination?.lat);
    set("destinationLng", this.destination?.lng);
  }

  async draw() {
    if (!this.destination && !this.driver) {
      this.drawn?.layers.clearLayers();
      return;
    }
    if (!this.drawn) {
      const { L, map } = await createMap(this.el);
      this.drawn = { L, map, layers: L.layerGroup().addTo(map) };
    }
    const { L, map, layers } = this.drawn;
    map.invalidateSize();
    layers.clearLayers();
    const points = [];
    if (this.driver && this.driver.accuracy && this.driver.accuracy <= MAX_DRAWN_ACCURACY) {
      L.circle([this.driver.lat, this.driver.lng], {
        radius: this.driver.accuracy, color: "#0b6bcb", weight: 1, fillOpacity: 0.1, interactive: false,
      }).addTo(layers);
    }
    if (this.driver && this.destination) {
      L.polyline([[this.driver.lat, this.driver.lng], [this.destination.lat, this.destination.lng]], {
        color: "#5b6475", weight: 3, dashArray: "6 8", interactive: false,
      }).addTo(layers);
    }
    if (this.destination) {
      points.push([this.destination.lat, this.destination.lng]);
      L.circleMarker(points.at(-1), DESTINATION_STYLE).bindTooltip(label(this.labels.destination)).addTo(layers);
    }
    if (this.driver) {
      points.push([this.driver.lat, this.driver.lng]);
      L.circleMarker(points.at(-1), DRIVER_STYLE).bindTooltip(label(this.labels.driver)).addTo(layers);
    }
    // Fit once both ends are known; later, only when the driver leaves the view, so a viewer's
    // own zoom and pan are not undone every second.
    const bounds = L.latLngBounds(points);
    const outside = this.fitted && this.driver && !map.getBounds().contains([this.driver.lat, this.driver.lng]);
    if (!this.fitted || outside) {
      if (points.length === 1) map.setView(points[0], 15);
      else map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16 });
      this.fitted = points.length > 1 || Boolean(this.driver);
    }
  }
}

/** The board's map: one marker per order whose driver shares a position. */
export class FleetMap {
  constructor(el) {
    this.el = el;
    this.markers = new Map();
    this.ready = null;
    this.fitted = false;
  }

  get size() {
    return this.markers.size;
  }

  async place(orderId, location, text) {
    const at = point(location);
    if (!at) return;
    this.ready ??= createMap(this.el);
    const { L, map } = await this.ready;
    let marker = this.markers.get(orderId);
    if (marker) {
      marker.setLatLng([at.lat, at.lng]);
      marker.setTooltipContent(label(text));
    } else {
      marker = L.circleMarker([at.lat, at.lng], DRIVER_STYLE).bindTooltip(label(text)).addTo(map);
      this.markers.set(orderId, marker);
      this.fitted = false;
    }
    const path = marker.getElement();
    if (path) {
      path.dataset.orderId = String(orderId);
      path.dataset.lat = String(at.lat);
      path.dataset.lng = String(at.lng);
    }
    this.el.dataset.markers = String(this.markers.size);
    map.invalidateSize();
    // Fit every marker when one is added, or when a driver drives out of the view; a lone
    // driver stays in the middle.
    if (this.fitted && !map.getBounds().pad(-0.05).contains(marker.getLatLng())) this.fitted = false;
    if (this.fitted && this.markers.size === 1) map.panTo(marker.getLatLng());
    if (!this.fitted) {
      const bounds = L.latLngBounds([...this.markers.values()].map((m) => m.getLatLng()));
      map.fitBounds(bounds, { padding: [30, 30], maxZoom: 15 });
      this.fitted = true;
    }
  }

  remove(orderId) {
    const marker = this.markers.get(orderId);
    if (!marker) return;
    marker.remove();
    this.markers.delete(orderId);
    this.el.dataset.markers = String(this.markers.size);
  }
}

function finite(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** {lat, lng} of a position or destination, or null unless both are numbers. */
function point(value) {
  if (!value) return null;
  const lat = finite(value.lat);
  const lng = finite(value.lng);
  return lat === null || lng === null ? null : { lat, lng };
}
