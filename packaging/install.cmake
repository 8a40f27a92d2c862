# install.cmake - `cmake --install` (FHS layout), the man pages, the systemd units, fail2ban files and the Debian package (cpack -G DEB).
#
# With CMAKE_INSTALL_PREFIX=/usr (packaging/build-deb.sh) the layout is Debian's:
#   /usr/sbin/{mtad,imapd,mailctl,sendmail}, /usr/lib/sendmail -> ../sbin/sendmail,
#   /usr/lib/mtad/deliver, /etc/mtad/mail.conf, /var/lib/mtad, /lib/systemd/system/*.service,
#   /etc/fail2ban/{filter.d,jail.d}/mtad.conf, /usr/share/man/man{1,5,8}, /usr/share/doc/mtad.
set(CMAKE_INSTALL_DOCDIR share/doc/mtad CACHE PATH "Documentation (share/doc/mtad)")
include(GNUInstallDirs)

# The configuration file the programs read without -c: compiled in, and installed there.
if(MAIL_CONFIG_PATH)
  set(MAIL_CONF_FILE ${MAIL_CONFIG_PATH})
else()
  set(MAIL_CONF_FILE ${CMAKE_INSTALL_FULL_SYSCONFDIR}/mail.conf)
endif()
target_compile_definitions(mailbase PRIVATE MAIL_CONFIG_PATH="${MAIL_CONF_FILE}")
get_filename_component(MAIL_CONF_DIR ${MAIL_CONF_FILE} DIRECTORY)
set(MAIL_STATE_DIR ${CMAKE_INSTALL_FULL_LOCALSTATEDIR}/lib/mtad)
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(MAIL_STATE_DIR /var/lib/mtad)
endif()
set(MAIL_LIBEXEC_DIR ${CMAKE_INSTALL_PREFIX}/lib/mtad)

# Programs.
install(TARGETS mtad imapd lmtpd mailctl sendmail RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS deliver RUNTIME DESTINATION ${MAIL_LIBEXEC_DIR})
install(CODE "file(MAKE_DIRECTORY \"\$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/lib\")
  file(CREATE_LINK ../sbin/sendmail \"\$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/lib/sendmail\" SYMBOLIC)")

# The configuration: etc/mail.conf.example with state_dir and smtp_listen set. A Debian
# conffile: dpkg never overwrites a copy the administrator changed.
set(MAIL_CONF_GEN ${CMAKE_BINARY_DIR}/packaging/mail.conf)
file(READ ${CMAKE_SOURCE_DIR}/etc/mail.conf.example conf_text)
string(REPLACE "#state_dir = ./var" "state_dir = ${MAIL_STATE_DIR}" conf_text "${conf_text}")
# As Debian's MTAs: SMTP on the loopback port 25 for local programs; the rest as built in.
string(REPLACE "#smtp_listen = 127.0.0.1:2525" "smtp_listen = 127.0.0.1:25" conf_text "${conf_text}")
string(REPLACE "# mail.conf.example - every configuration key, commented out, with its default."
  "# mail.conf - the configuration of mtad, imapd, deliver, mailctl and sendmail (mail.conf(5));\n# every other key is commented out with its default."
  conf_text "${conf_text}")
file(WRITE ${MAIL_CONF_GEN} "${conf_text}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/etc/mail.conf.example)
install(FILES ${MAIL_CONF_GEN} DESTINATION ${MAIL_CONF_DIR} PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(DIRECTORY DESTINATION ${MAIL_STATE_DIR})

# systemd units: /usr/sbin in the sources becomes this build's sbin directory.
pkg_get_variable(SYSTEMD_UNIT_DIR systemd systemdsystemunitdir)
if(NOT SYSTEMD_UNIT_DIR OR NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(SYSTEMD_UNIT_DIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
foreach(unit mtad.service imapd.service)
  file(READ ${CMAKE_SOURCE_DIR}/etc/systemd/${unit} unit_text)
  string(REPLACE "/usr/sbin/" "${CMAKE_INSTALL_FULL_SBINDIR}/" unit_text "${unit_text}")
  string(REPLACE "/var/lib/mtad" "${MAIL_STATE_DIR}" unit_text "${unit_text}")
  file(WRITE ${CMAKE_BINARY_DIR}/packaging/${unit} "${unit_text}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/etc/systemd/${unit})
  install(FILES ${CMAKE_BINARY_DIR}/packaging/${unit} DESTINATION ${SYSTEMD_UNIT_DIR})
endforeach()

# fail2ban: the filter and a jail (disabled until the administrator enables it).
install(FILES ${CMAKE_SOURCE_DIR}/etc/fail2ban/filter.d/mtad.conf
  DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/fail2ban/filter.d)
install(FILES ${CMAKE_SOURCE_DIR}/etc/fail2ban/jail.d/mtad.conf
  DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/fail2ban/jail.d)

# Man pages: docs/man/*.[158] with @CONFIG_PATH@ filled in, and mail.conf.5 generated from the key table of docs/config.md
# (docs/man/gen-mail-conf.py), all gzipped as Debian wants them.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
set(MAN_OUT ${CMAKE_BINARY_DIR}/man)
add_custom_command(OUTPUT ${MAN_OUT}/mail.conf.5
  COMMAND ${CMAKE_COMMAND} -E make_directory ${MAN_OUT}
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/docs/man/gen-mail-conf.py
          ${CMAKE_SOURCE_DIR}/docs/config.md ${CMAKE_SOURCE_DIR}/docs/man/mail.conf.5.in
          ${MAN_OUT}/mail.conf.5 ${MAIL_CONF_FILE}
  DEPENDS ${CMAKE_SOURCE_DIR}/docs/man/gen-mail-conf.py ${CMAKE_SOURCE_DIR}/docs/config.md
          ${CMAKE_SOURCE_DIR}/docs/man/mail.conf.5.in
  COMMENT "mail.conf.5 from docs/config.md")
set(man_gz)
foreach(page mtad.8 imapd.8 deliver.8 lmtpd.8 mailctl.8 sendmail.1 mail.conf.5)
  set(src ${MAN_OUT}/${page})
  if(NOT page STREQUAL "mail.conf.5")
    set(CONFIG_PATH ${MAIL_CONF_FILE})
    configure_file(${CMAKE_SOURCE_DIR}/docs/man/${page} ${src} @ONLY)
  endif()
  add_custom_command(OUTPUT ${MAN_OUT}/${page}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${MAN_OUT}
    COMMAND gzip -9n -c ${src} > ${MAN_OUT}/${page}.gz
    DEPENDS ${src} VERBATIM)
  list(APPEND man_gz ${MAN_OUT}/${page}.gz)
  string(REGEX REPLACE ".*\\." "" section ${page})
  install(FILES ${MAN_OUT}/${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
add_custom_target(man ALL DEPENDS ${man_gz})

# Documentation, the copyright notice and the changelog (Debian's names).
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
file(GLOB doc_pages ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES ${doc_pages} DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${CMAKE_SOURCE_DIR}/packaging/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/packaging/changelog.gz
  COMMAND gzip -9n -c ${CMAKE_SOURCE_DIR}/packaging/changelog > ${CMAKE_BINARY_DIR}/packaging/changelog.gz
  DEPENDS ${CMAKE_SOURCE_DIR}/packaging/changelog VERBATIM)
add_custom_target(changelog ALL DEPENDS ${CMAKE_BINARY_DIR}/packaging/changelog.gz)
install(FILES ${CMAKE_BINARY_DIR}/packaging/changelog.gz DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The Debian package: `cpack -G DEB` in a build configured by packaging/build-deb.sh.
file(WRITE ${CMAKE_BINARY_DIR}/packaging/conffiles
  "${MAIL_CONF_FILE}\n${CMAKE_INSTALL_FULL_SYSCONFDIR}/fail2ban/filter.d/mtad.conf\n${CMAKE_INSTALL_FULL_SYSCONFDIR}/fail2ban/jail.d/mtad.conf\n")
set(CPACK_PACKAGE_NAME mtad)
set(CPACK_PACKAGE_VENDOR "mailserver")
set(MAIL_DEB_MAINTAINER "mailserver maintainers <mailserver@example.org>" CACHE STRING
  "Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT "${MAIL_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "small mail server: SMTP (mtad) and IMAP (imapd) over Maildir")
set(CPACK_PACKAGE_DESCRIPTION "mtad receives mail by SMTP, queues it durably, delivers local mail
into Maildir folders and relays the rest by MX lookup; imapd serves the same
store over IMAP. Also deliver (a local delivery agent), mailctl
(administration) and sendmail (the command local programs submit with).")
set(CPACK_GENERATOR DEB)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION mail)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://localhost/mailserver")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# the default dnssec_trust_anchor (DANE); without it DANE deliveries defer
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS dns-root-data)
set(CPACK_DEBIAN_PACKAGE_PROVIDES mail-transport-agent)
set(CPACK_DEBIAN_PACKAGE_CONFLICTS mail-transport-agent)
set(CPACK_DEBIAN_PACKAGE_REPLACES mail-transport-agent)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
  OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_SOURCE_DIR}/packaging/postinst ${CMAKE_SOURCE_DIR}/packaging/prerm
  ${CMAKE_SOURCE_DIR}/packaging/postrm ${CMAKE_BINARY_DIR}/packaging/conffiles)
include(CPack)
