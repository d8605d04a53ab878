#include "daemon/admin/messages_fr.h"

namespace treve::admin {
namespace {

using config::Code;
using config::Diagnostic;
using config::fill;

// "ligne 12 : l'événement « Réunion »" or "événement n° 3 : un événement sans titre".
std::string ics_event(const Diagnostic& d) {
  const std::string& line = d.arg(1);
  std::string out = !line.empty() && line != "0" ? "ligne " + line : "événement n° " + d.arg(2);
  const std::string& summary = d.arg(3);
  return out + " : " +
         (summary.empty() ? std::string("un événement sans titre")
                          : "l'événement « " + summary + " »");
}

// A missing key of a quiet window says what to fill in.
std::string missing_key(const std::string& key) {
  if (key == "days")
    return "cochez au moins un jour";
  if (key == "start")
    return "heure de début manquante";
  if (key == "end")
    return "heure de fin manquante";
  return "valeur manquante : " + key;
}

std::string kind(const std::string& k) {
  if (k == "connector")
    return "connecteur";
  if (k == "sink")
    return "destination (sink)";
  if (k == "directory")
    return "annuaire";
  return k;
}

// The pattern of a code's French message ({0}, {1}, … the arguments); empty for the codes
// written out in `message_fr`.
std::string_view pattern(Code code) {
  switch (code) {
    case Code::config_unreadable:
      return "impossible de lire le fichier de configuration : {0}";
    case Code::toml_syntax:
      return "erreur de syntaxe TOML : {0}";
    case Code::unknown_key:
      return "clé inconnue ; clés possibles : {0}";
    case Code::missing_key:
    case Code::must_be_table_array:
    case Code::duplicate_name:
      return {};
    case Code::must_be_string:
      return "doit être un texte";
    case Code::must_be_bool:
      return "doit être vrai ou faux";
    case Code::must_be_string_array:
      return "doit être une liste de textes";
    case Code::must_be_table:
      return "doit être une table";
    case Code::must_not_be_empty:
      return "ne peut pas être un texte vide";
    case Code::must_not_be_null:
      return "ne doit pas être vide";
    case Code::must_be_json_object:
      return "doit être un objet JSON";
    case Code::tz_data_missing:
      return "le fuseau horaire {0} manque à la base tz du système (installez tzdata)";
    case Code::tz_data_unreadable:
      return "fuseau horaire {0} illisible : {1}";
    case Code::unknown_zone:
      return "fuseau horaire inconnu « {0} » (par exemple Europe/Paris)";
    case Code::zone_unreadable:
      return "fuseau horaire « {0} » illisible : {1}";
    case Code::bad_uai:
      return "UAI invalide « {0} » : 7 chiffres suivis de leur lettre de contrôle, en majuscule";
    case Code::bad_grade_delay:
      return "durée attendue, par exemple 0, 24h, 72h ou 7d (au plus 366 jours), reçu « {0} »";
    case Code::bad_homework_notice:
      return "durée attendue, par exemple 24h ou 2d (au plus 366 jours), reçu « {0} »";
    case Code::unknown_category:
      return "catégorie inconnue « {0} »";
    case Code::unknown_role:
      return "rôle inconnu « {0} » ; rôles possibles : student, parent, staff";
    case Code::unknown_holiday_set:
      return "jeu de jours fériés inconnu « {0} » ; le seul existant est fr-public";
    case Code::bad_closed_date:
      return "date attendue AAAA-MM-JJ, ou période AAAA-MM-JJ..AAAA-MM-JJ avec le début avant la "
             "fin, reçu « {0} »";
    case Code::closed_ics_not_accepted:
      return "refusé ici : importez les jours du calendrier dans les fermetures";
    case Code::no_window:
      return "au moins une fenêtre de repos est nécessaire : sans elle, l'établissement ne "
             "protégerait personne";
    case Code::windows_cover_week:
      return "les fenêtres couvrent toute la semaine : aucune notification ne serait jamais "
             "remise";
    case Code::no_general_window:
      return "chaque fenêtre nomme des catégories : il en faut au moins une, sans catégorie, "
             "pour toutes les autres";
    case Code::no_day:
      return "cochez au moins un jour";
    case Code::unknown_day:
      return "jour inconnu « {0} »";
    case Code::bad_time:
      return "heure attendue au format HH:MM (de 00:00 à 23:59), reçu « {0} »";
    case Code::must_be_absolute_path:
      return "doit être un chemin absolu";
    case Code::bytes_out_of_range:
      return "doit être un nombre entier d'octets entre {0} et {1}";
    case Code::bad_listen:
      return "adresse HÔTE:PORT attendue, par exemple « 127.0.0.1:2007 », reçu « {0} »";
    case Code::bad_admin_listen:
      return "adresse HÔTE:PORT ou « unix:/chemin/du/socket » attendue, reçu « {0} »";
    case Code::same_listeners:
      return "doit différer de server.listen : l'API d'administration ne partage jamais l'écoute "
             "de l'API d'ingestion";
    case Code::tls_certificate_and_key:
      return "un certificat TLS et sa clé vont ensemble : donnez les deux ou aucun";
    case Code::tls_client_ca_alone:
      return "un certificat client n'est demandé qu'en TLS : donnez aussi le certificat et la clé "
             "de l'écoute";
    case Code::tls_client_name_without_ca:
      return "nomme le certificat client que le connecteur doit présenter : l'écoute d'ingestion "
             "n'en demande un qu'avec server.tls_client_ca";
    case Code::admin_tls_client_name_without_ca:
      return "nomme le certificat client que l'administrateur doit présenter : l'écoute "
             "d'administration n'en demande un qu'avec server.admin_tls_client_ca";
    case Code::bad_tls_client_name:
      return "attendu le nom que donne son certificat client (un nom commun ou un nom DNS) : non "
             "vide, 255 octets au plus, sans caractère de contrôle";
    case Code::tls_on_unix_socket:
      return "TLS est pour une écoute TCP : un socket unix n'est joint que par les utilisateurs "
             "de la machine, selon ses droits de fichier";
    case Code::bad_tls_file:
      return "{0} : {1}";
    case Code::tls_certificate_expires:
      return "le certificat de {0} expire le {1}, dans moins de 30 jours : renouvelez-le, puis "
             "rechargez la configuration";
    case Code::tls_certificate_expired:
      return "le certificat de {0} a expiré le {1} : les clients le refuseront ; renouvelez-le, "
             "puis rechargez la configuration";
    case Code::in_flight_below_request:
      return "doit valoir au moins {0} (le plus grand de server.max_body_bytes et "
             "server.max_batch_body_bytes) : une requête de cette taille ne serait jamais acceptée";
    case Code::in_flight_below_connector:
      return "server.max_bytes_in_flight ({0}) doit valoir au moins "
             "server.max_bytes_in_flight_per_connector ({1})";
    case Code::bad_days:
      return "nombre entier de jours attendu, entre {0}d et {1}d, par exemple « 365d », reçu "
             "« {2} »";
    case Code::records_out_of_range:
      return "doit être un nombre entier d'enregistrements entre 0 (jamais) et 100000000";
    case Code::retention_outside_cnil:
      return "{0} jours, hors des six mois à un an que la CNIL recommande pour les journaux "
             "(délibération 2021-122)";
    case Code::pages_out_of_range:
      return "doit être un nombre entier de pages entre 1 et 1000000000";
    case Code::bad_clock_start:
      return "doit être un instant RFC 3339 avec son décalage, par exemple "
             "« 2026-12-07T19:59:58+01:00 » ({0})";
    case Code::purge_interval_out_of_range:
      return "doit être un nombre entier de minutes entre 1 et 1440";
    case Code::no_test_hooks:
      return "ce trêve est construit sans points d'accroche de test (option CMake "
             "TREVE_TESTING) : la table [testing] est réservée aux tests de trêve";
    case Code::test_hooks_in_use:
      return "points d'accroche de test en service ; jamais en production";
    case Code::bad_admin_name:
      return "doit compter de 1 à 200 caractères";
    case Code::duplicate_admin_name:
      return "un autre administrateur porte ce nom";
    case Code::bad_token_digest:
      return "doit être le SHA-256 du jeton en 64 chiffres hexadécimaux minuscules (jamais le "
             "jeton lui-même)";
    case Code::duplicate_admin_token:
      return "un autre administrateur a ce jeton";
    case Code::bad_admin_role:
      return "doit être « admin » (peut modifier la politique) ou « auditor » (lecture seule)";
    case Code::missing_scope:
      return "clé « scope » manquante (une liste d'UAI, ou « * »)";
    case Code::bad_scope:
      return "doit être une liste d'UAI, ou « * »";
    case Code::bad_name:
      return "doit compter de 1 à 64 caractères parmi a-z, 0-9, « - » et « _ »";
    case Code::unknown_connector_format:
      return "format de connecteur inconnu « {0} » ; attendu canonical, cloudevents ou "
             "entcore-timeline";
    case Code::format_needs_directory:
      return "un connecteur de format = « {0} » a besoin d'un annuaire (clé « directory », le nom "
             "d'une entrée [[directories]]) : ses événements ne désignent les utilisateurs que par "
             "leur identifiant";
    case Code::key_not_for_format:
      return "ne s'applique qu'à un connecteur de format = « {0} »";
    case Code::directory_not_for_format:
      return "les événements d'un connecteur canonique nomment eux-mêmes leur établissement et "
             "leurs rôles : l'annuaire « {0} » serait sans effet (il sert aux formats "
             "« entcore-timeline » et « cloudevents »)";
    case Code::establishment_from_directory:
      return "les événements de ce connecteur tiennent leur établissement de l'annuaire « {0} » "
             "(clé « directory ») : establishment_pointer serait sans effet";
    case Code::bad_timeline_type:
      return "« {0} » n'est pas un type de timeline : un type comme « MESSAGERIE », ou un type, un "
             "point et un event-type comme « BLOG.PUBLISH-POST » (lettres, chiffres, « - » et "
             "« _ »)";
    case Code::bad_timeline_title:
      return "une clé de traduction et son texte doivent compter chacun de 1 à 200 caractères";
    case Code::bad_ce_source:
      return "doit être une source CloudEvents de 1 à 256 caractères";
    case Code::bad_json_pointer:
      return "doit être un pointeur JSON (RFC 6901) vers un membre de data, comme « /title » ; "
             "reçu « {0} »";
    case Code::reserved_event_type:
      return "« {0} » porte un événement canonique, dont la catégorie est la sienne : il ne peut "
             "pas être associé à une catégorie";
    case Code::unknown_directory:
      return "aucun annuaire [[directories]] ne s'appelle « {0} »";
    case Code::directory_needs_credentials:
      return "clé « secret_file » ou « token_file » manquante : les requêtes à l'annuaire sont "
             "toujours authentifiées (un fichier contenant un secret Standard Webhooks "
             "« whsec_<base64> » pour les signer, ou un fichier contenant un jeton bearer)";
    case Code::directory_secret_and_token:
      return "donnez secret_file (requêtes signées) ou token_file (un jeton bearer), pas les "
             "deux";
    case Code::bad_token_file:
      return "{0} doit contenir un jeton bearer sur sa première ligne (ASCII imprimable sans "
             "espace)";
    case Code::unknown_sink_type:
      return "type de destination inconnu « {0} » ; attendu webhook, fcm, webpush ou smtp";
    case Code::key_not_for_sink_type:
      return "ne s'applique pas à une destination {0}";
    case Code::missing_sink_key:
      return "clé « {0} » manquante : une destination {1} en a besoin";
    case Code::bad_http_url:
      return "doit être une URL http:// ou https://";
    case Code::bad_smtp_url:
      return "doit être une URL smtp:// ou smtps://";
    case Code::missing_secret_file:
      return "clé « secret_file » manquante : les requêtes webhook sont toujours signées (un "
             "fichier contenant un secret Standard Webhooks « whsec_<base64> »)";
    case Code::directory_needs_secret:
      return "clé « secret_file » manquante : les requêtes à l'annuaire sont toujours signées (un "
             "fichier contenant un secret Standard Webhooks « whsec_<base64> »)";
    case Code::second_default_sink:
      return "une seule destination peut être celle par défaut (une autre l'est à la ligne {0})";
    case Code::secret_unreadable:
      return "impossible de lire le fichier secret {0}";
    case Code::bad_secret:
      return "{0} : secret Standard Webhooks invalide ({1})";
    case Code::bad_credential:
      return "« {0} » : identifiant systemd inutilisable ({1})";
    case Code::secret_readable_by_others:
      return "{0} est lisible par tous (mode {1}) ; faites chmod 600";
    case Code::secret_readable_by_others_root:
      return "{0} est lisible par tous (mode {1}) ; faites chmod 600 (ou 640 avec le groupe du "
             "service, propriétaire root)";
    case Code::secret_readable_by_group:
      return "{0} est lisible par son groupe {1} (mode {2}) ; faites chmod 600";
    case Code::integer_out_of_range:
      return "doit être un nombre entier entre {0} et {1}";
    case Code::bad_rate:
      return "doit valoir 0 (sans limite) ou un nombre de remises par seconde entre 0.01 et "
             "1000000";
    case Code::bad_sink_duration:
      return "durée attendue d'au plus 366d, par exemple « 500ms », « 10s », « 1h » ou « 2d », "
             "reçu « {0} »";
    case Code::bad_sink_duration_min:
      return "durée attendue d'au moins {0}ms et d'au plus 366d, par exemple « 500ms », « 10s », "
             "« 1h » ou « 2d », reçu « {1} »";
    case Code::retry_max_below_initial:
      return "ne peut pas être plus court que retry_initial";
    case Code::no_sink_for:
      return "aucune destination ne prend {0} pour {1} du connecteur {2} ; donnez à une "
             "destination « default = true » ou élargissez les filtres";
    case Code::no_sinks:
      return "aucune destination [[sinks]] : les notifications libérées attendront à l'état due";
    case Code::bad_credentials:
      return "{0} : clé de compte de service Google inutilisable ({1})";
    case Code::bad_vapid_key:
      return "{0} : clé VAPID inutilisable (il faut une clé privée P-256 en PEM) ({1})";
    case Code::bad_vapid_subject:
      return "doit être une URL mailto: ou https: où les services de notification peuvent "
             "joindre l'exploitant";
    case Code::bad_starttls:
      return "attendu « required », « opportunistic » ou « off », reçu « {0} »";
    case Code::bad_email_address:
      return "« {0} » n'est pas une adresse électronique (local@domaine, ou « Nom "
             "<local@domaine> »)";
    case Code::file_unreadable:
      return "impossible de lire {0}";
    case Code::starttls_off:
      return "starttls = « off » : les courriels et le mot de passe du relais circulent en clair";
    case Code::bad_digest:
      return "attendu « morning » ou « off », reçu « {0} »";
    case Code::bad_templates:
      return "modèles de courriel : {0}";
    case Code::window_name_too_long:
      return "le nom ne peut dépasser {0} caractères ({1} reçus)";
    case Code::comment_too_long:
      return "le commentaire ne peut dépasser {0} caractères ({1} reçus)";
    case Code::api_policies_unreadable:
      return "impossible de lire les politiques de l'API d'administration : {0}";
    case Code::unknown_store_backend:
      return "stockage inconnu « {0} » ; attendu sqlite ou postgresql";
    case Code::key_not_for_backend:
      return "ne s'applique pas au stockage {0}";
    case Code::postgresql_needs_url:
      return "clé « url » manquante : le stockage postgresql a besoin d'une chaîne de connexion "
             "libpq";
    case Code::password_in_url:
      return "ne doit pas contenir de mot de passe (il figurerait dans le texte audité de la "
             "configuration) : donnez password_file, ou PGPASSFILE dans l'environnement du "
             "service";
    case Code::bad_store_url:
      return "ce n'est pas une chaîne de connexion que libpq sait lire : {0}";
    case Code::ics_unreadable:
      return "impossible de lire {0} : {1}";
    case Code::ics_nul_bytes:
      return "ce n'est pas un fichier iCalendar (il contient des octets nuls ; les fichiers "
             "UTF-16 ne sont pas pris en charge)";
    case Code::ics_no_parser:
      return "libical n'a pas pu créer d'analyseur";
    case Code::ics_unbalanced:
      return "fichier iCalendar mal formé : une ligne BEGIN n'a pas de ligne END (fichier "
             "tronqué ?)";
    case Code::ics_no_vcalendar:
      return "ce n'est pas un fichier iCalendar (pas de VCALENDAR)";
    case Code::ics_dtend_before_dtstart:
      return " : la fin (DTEND {4}) précède le début (DTSTART {5})";
    case Code::ics_negative_duration:
      return " : DURATION négative, la fin précéderait le début (DTSTART {4})";
    case Code::ics_timed_event:
      return " a une heure, ce n'est pas une journée entière : ignoré";
    case Code::ics_damaged:
      return " est endommagé : {4}";
    case Code::ics_no_dtstart:
      return " n'a pas de début (DTSTART) valide : ignoré";
    case Code::ics_bad_dtstart:
      return " a une date de début (DTSTART) invalide {4} : ignoré";
    case Code::ics_after_32767:
      return " finit après l'an 32767 : ignoré";
    case Code::ics_dtend_and_duration:
      return " a à la fois DTEND et DURATION : DURATION ignorée";
    case Code::ics_dtend_with_time:
      return " commence un jour entier (DTSTART) mais finit à une heure (DTEND) : ignoré";
    case Code::ics_bad_dtend:
      return " a une date de fin (DTEND) invalide {4} : ignoré";
    case Code::ics_dtend_equals_dtstart:
      return " finit le jour où il commence (DTEND est exclu) : compté pour un jour";
    case Code::ics_duration_not_whole_days:
      return " a une durée (DURATION) qui n'est pas un nombre entier de jours : ignoré";
    case Code::ics_zero_duration:
      return " a une durée (DURATION) nulle : compté pour un jour";
    case Code::ics_rrule_unexpandable:
      return " a une règle de répétition (RRULE) que libical ne sait pas dérouler : seule sa "
             "première occurrence est gardée";
    case Code::ics_too_many_occurrences:
      return " se répète plus de {4} fois : seules les {4} premières occurrences sont gardées";
    case Code::ics_rdate_with_time:
      return " a une date supplémentaire (RDATE) qui n'est pas une journée entière : cette RDATE "
             "est ignorée";
    case Code::ics_no_whole_day_event:
      return "aucun événement sur des journées entières : aucune fermeture";
  }
  return {};
}

}  // namespace

std::string message_fr(const Diagnostic& d) {
  const config::CodeInfo& info = config::info(d.code);
  switch (d.code) {
    case Code::missing_key:
      return missing_key(d.arg(0));
    case Code::must_be_table_array: {
      const std::string& key = d.arg(0);
      if (key == "quiet" || key.ends_with(".quiet"))
        return "doit être une liste de fenêtres";
      return "doit être une liste de tables ([[" + key + "]])";
    }
    case Code::duplicate_name:
      return (d.arg(0) == "directory" ? "nom d'" : "nom de ") + kind(d.arg(0)) + " en double « " +
             d.arg(1) + " »";
    default:
      break;
  }
  std::string out;
  if (info.ics_path && !d.arg(0).empty())
    out = d.arg(0) + " : ";
  if (info.ics_event)
    out += ics_event(d);
  return out + fill(pattern(d.code), d.args);
}

std::string render_fr(const Diagnostic& d) {
  return config::location(d) + message_fr(d);
}

}  // namespace treve::admin
