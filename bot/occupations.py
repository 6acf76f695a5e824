"""The occupations a worker can pick, as seen among pekerja rentan (shared/domain.md); there is
no official national list. Programmes name the ones they admit by these values."""

from bot.i18n import N_
from bot.messages import Choice

OCCUPATIONS = (
    Choice("ojek", N_("occupation.ojek"),
           aliases=("ojek", "ojol", "gojek", "grab", "maxim", "ojek online", "ojek pangkalan",
                    "driver ojek", "driver ojol", "ojek daring")),
    Choice("nelayan", N_("occupation.nelayan"),
           aliases=("nelayan", "fisher", "fisherman", "tangkap ikan", "melaut")),
    Choice("pedagang", N_("occupation.pedagang"),
           aliases=("pedagang", "pkl", "kaki lima", "jualan", "dagang", "penjual", "keliling",
                    "street vendor", "vendor", "berjualan", "penjual makanan")),
    Choice("petani", N_("occupation.petani"),
           aliases=("petani", "tani", "buruh tani", "farmer", "sawah", "kebun", "peladang")),
    Choice("penjahit", N_("occupation.penjahit"), aliases=("penjahit", "jahit", "tailor")),
    Choice("tukang_bangunan", N_("occupation.tukang_bangunan"),
           aliases=("tukang bangunan", "bangunan", "kuli bangunan", "builder",
                    "construction", "tukang batu", "tukang kayu")),
    Choice("pekerja_seni", N_("occupation.pekerja_seni"),
           aliases=("seni", "seniman", "pekerja seni", "artist", "musisi", "penari", "pelukis")),
    Choice("petugas_keagamaan", N_("occupation.petugas_keagamaan"),
           aliases=("marbot", "imam", "guru ngaji", "ustadz", "ustaz", "pendeta", "keagamaan",
                    "religious", "garin", "koster", "pegawai syara", "bilal", "muadzin")),
    Choice("kuli_angkut", N_("occupation.kuli_angkut"),
           aliases=("kuli", "kuli angkut", "angkut", "porter", "buruh angkut", "kuli panggul")),
    Choice("pemulung", N_("occupation.pemulung"),
           aliases=("pemulung", "pulung", "waste picker", "rongsok", "barang bekas")),
    Choice("juru_parkir", N_("occupation.juru_parkir"),
           aliases=("juru parkir", "tukang parkir", "parkir", "jukir", "parking attendant")),
    Choice("kurir", N_("occupation.kurir"),
           aliases=("kurir", "courier", "kurir paket", "antar paket", "delivery")),
    Choice("sopir", N_("occupation.sopir"),
           aliases=("becak", "tukang becak", "bentor", "angkot", "sopir angkot", "supir angkot",
                    "sopir", "supir", "bajaj", "bemo", "driver angkot", "pedicab")),
    Choice("warung", N_("occupation.warung"),
           aliases=("warung", "umkm", "usaha kecil", "toko kelontong", "kedai", "lapau",
                    "small shop")),
    Choice("kebersihan", N_("occupation.kebersihan"),
           aliases=("cleaner", "cleaning service", "petugas kebersihan", "tukang sapu",
                    "penyapu jalan", "kebersihan", "pasukan kuning")),
    Choice("asisten_rumah_tangga", N_("occupation.asisten_rumah_tangga"),
           aliases=("asisten rumah tangga", "art", "prt", "pembantu", "pembantu rumah tangga",
                    "housemaid", "domestic worker")),
    Choice("dukun_beranak", N_("occupation.dukun_beranak"),
           aliases=("dukun beranak", "paraji", "dukun bayi", "traditional birth attendant")),
    Choice("other", N_("occupation.other"), aliases=("lainnya", "lain", "other", "lain lain")),
)
"""Each with the words people use for it. Where none matches, the worker's own words are kept
under "other" (``bot.flows.registration``): never a guess at the nearest job."""

OCCUPATION_LABELS = {choice.value: choice.label for choice in OCCUPATIONS}
