// The tracking page's words, in English and Indonesian.
export const STRINGS = {
  en: {
    title: "Order tracking", loading: "Loading…", connecting: "Connecting…", live: "Live",
    reconnecting: "Reconnecting…", ended: "Link ended", order: "Order", timeline: "Timeline",
    eta: "Estimated time", driver: "Your driver", endedTitle: "This tracking link is no longer valid",
    endedText: "It was revoked, or it expired. Ask whoever sent it for a new one.",
    cancelledText: "This order was cancelled.", stepProcessing: "Processing",
    problem: "The order cannot be shown right now. Please try again in a moment.",
    mapDriver: "Driver", mapDestination: "Destination", positionAt: "Position at {time}",
  },
  id: {
    title: "Lacak pesanan", loading: "Memuat…", connecting: "Menghubungkan…", live: "Langsung",
    reconnecting: "Menghubungkan ulang…", ended: "Tautan berakhir", order: "Pesanan",
    timeline: "Riwayat", eta: "Perkiraan waktu", driver: "Pengemudi Anda",
    endedTitle: "Tautan pelacakan ini sudah tidak berlaku",
    endedText: "Tautan ini dicabut atau kedaluwarsa. Mintalah tautan baru kepada pengirimnya.",
    cancelledText: "Pesanan ini dibatalkan.", stepProcessing: "Diproses",
    problem: "Pesanan tidak dapat ditampilkan saat ini. Silakan coba lagi sebentar lagi.",
    mapDriver: "Pengemudi", mapDestination: "Tujuan", positionAt: "Posisi pukul {time}",
  },
};
