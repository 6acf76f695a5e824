"""The occupations a worker can pick, as seen among pekerja rentan (shared/domain.md); there is
no official national list. Programmes name the ones they admit by these values."""

from bot.i18n import N_
from bot.messages import Choice

OCCUPATIONS = (
    Choice("ojek", N_("occupation.ojek"),
           aliases=("ojek", "ojol", "gojek", "grab", "maxim", "ojek online", "ojek pangkalan",
                    "driver ojek", "driver ojol", "kurir", "courier", "ojek daring")),
    Choice("nelayan", N_("occupation.nelayan"),
           aliases=("nelayan", "fisher", "fisherman", "tangkap ikan", "melaut")),
    Choice("pedagang", N_("occupation.pedagang"),
           aliases=("pedagang", "pkl", "kaki lima", "jualan", "dagang", "penjual", "keliling",
                    "street vendor", "vendor", "warung", "berjualan", "penjual makanan")),
    Choice("petani", N_("occupation.petani"),
           aliases=("petani", "tani", "buruh tani", "farmer", "sawah", "kebun", "peladang")),
    Choice("penjahit", N_("occupation.penjahit"), aliases=("penjahit", "jahit", "tailor")),
    Choice("tukang_bangunan", N_("occupation.tukang_bangunan"),
           aliases=("tukang bangunan", "tukang", "bangunan", "kuli bangunan", "builder",
                    "construction", "tukang batu", "tukang kayu")),
    Choice("pekerja_seni", N_("occupation.pekerja_seni"),
           aliases=("seni", "seniman", "pekerja seni", "artist", "musisi", "penari", "pelukis")),
    Choice("petugas_keagamaan", N_("occupation.petugas_keagamaan"),
           aliases=("marbot", "imam", "guru ngaji", "ustadz", "ustaz", "pendeta", "keagamaan",
                    "religious", "garin", "koster", "pegawai syara", "bilal", "muadzin")),
    Choice("kuli_angkut", N_("occupation.kuli_angkut"),
           aliases=("kuli", "kuli angkut", "angkut", "buruh", "porter", "buruh angkut")),
    Choice("pemulung", N_("occupation.pemulung"),
           aliases=("pemulung", "pulung", "waste picker", "rongsok", "barang bekas")),
    Choice("other", N_("occupation.other"), aliases=("lainnya", "lain", "other", "lain lain")),
)

OCCUPATION_LABELS = {choice.value: choice.label for choice in OCCUPATIONS}
