################################################################################
#
# firmware-server
#
################################################################################

FIRMWARE_SERVER_VERSION = 0.1.0
FIRMWARE_SERVER_SITE = $(BR2_EXTERNAL_FIRMWARE_SERVER_PATH)/..
FIRMWARE_SERVER_SITE_METHOD = local
FIRMWARE_SERVER_LICENSE = MIT
# Build output, the Buildroot tree itself and editor/VCS files are not needed.
FIRMWARE_SERVER_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude /target --exclude /buildroot --exclude /.ci

FIRMWARE_SERVER_OVERLAY = $(BR2_EXTERNAL_FIRMWARE_SERVER_PATH)/board/rootfs-overlay

define FIRMWARE_SERVER_INSTALL_CONFIG
	$(INSTALL) -D -m 0644 $(FIRMWARE_SERVER_OVERLAY)/etc/firmware-server.conf \
		$(TARGET_DIR)/etc/firmware-server.conf
	$(INSTALL) -d -m 0755 $(TARGET_DIR)/www
endef

define FIRMWARE_SERVER_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(FIRMWARE_SERVER_OVERLAY)/etc/init.d/S50firmware-server \
		$(TARGET_DIR)/etc/init.d/S50firmware-server
endef

ifeq ($(BR2_PACKAGE_FIRMWARE_SERVER_PREBUILT),y)

# 32-bit MIPS: Buildroot's Rust has no standard library for it; install the
# static binary built by "cargo board" (see BR2_PACKAGE_FIRMWARE_SERVER_PREBUILT_PATH).
FIRMWARE_SERVER_PREBUILT_PATH = $(call qstrip,$(BR2_PACKAGE_FIRMWARE_SERVER_PREBUILT_PATH))

define FIRMWARE_SERVER_INSTALL_TARGET_CMDS
	test -f $(FIRMWARE_SERVER_PREBUILT_PATH) || { \
		echo "firmware-server: $(FIRMWARE_SERVER_PREBUILT_PATH) not found; build it with: cargo board --board NAME"; \
		exit 1; }
	$(INSTALL) -D -m 0755 $(FIRMWARE_SERVER_PREBUILT_PATH) \
		$(TARGET_DIR)/usr/sbin/firmware-server
	$(FIRMWARE_SERVER_INSTALL_CONFIG)
endef

$(eval $(generic-package))

else

# One cargo feature per selected plugin; none selected: no --features at all.
FIRMWARE_SERVER_FEATURES = \
	$(if $(BR2_PACKAGE_FIRMWARE_SERVER_AUTH),auth) \
	$(if $(BR2_PACKAGE_FIRMWARE_SERVER_DIRLISTING),dirlisting) \
	$(if $(BR2_PACKAGE_FIRMWARE_SERVER_LOGGER),logger) \
	$(if $(BR2_PACKAGE_FIRMWARE_SERVER_ACCESS),access) \
	$(if $(BR2_PACKAGE_FIRMWARE_SERVER_CTL),ctl) \
	$(if $(BR2_PACKAGE_FIRMWARE_SERVER_CGI),cgi) \
	$(if $(BR2_PACKAGE_FIRMWARE_SERVER_FASTCGI),fastcgi) \
	$(if $(BR2_PACKAGE_FIRMWARE_SERVER_TLS),tls)

# The source tree is a Cargo workspace: build only the server binary, with
# exactly the plugins selected above (cargo's default features off).
FIRMWARE_SERVER_CARGO_BUILD_OPTS = \
	-p firmware-server --bin firmware-server --no-default-features
ifneq ($(strip $(FIRMWARE_SERVER_FEATURES)),)
FIRMWARE_SERVER_CARGO_BUILD_OPTS += \
	--features $(subst $(space),$(comma),$(strip $(FIRMWARE_SERVER_FEATURES)))
endif

# Board defaults baked into the binary by the engine's build script.
FIRMWARE_SERVER_BOARD = $(call qstrip,$(BR2_PACKAGE_FIRMWARE_SERVER_BOARD))
ifneq ($(FIRMWARE_SERVER_BOARD),)
FIRMWARE_SERVER_CARGO_ENV += \
	FWS_BOARD_CONFIG=$(FIRMWARE_SERVER_SRCDIR)board-configs/$(FIRMWARE_SERVER_BOARD).toml

# A board file's plugin sections ([logger], [ctl], ...) need those plugins:
# without them the binary refuses its own defaults at start. Fail at extract
# time instead, naming the option to select.
define FIRMWARE_SERVER_CHECK_BOARD_PLUGINS
	test -f $(@D)/board-configs/$(FIRMWARE_SERVER_BOARD).toml || { \
		echo "firmware-server: no board-configs/$(FIRMWARE_SERVER_BOARD).toml"; exit 1; }
	for s in $$(sed -n 's/^\[\([a-z0-9_]*\)\].*/\1/p' \
			$(@D)/board-configs/$(FIRMWARE_SERVER_BOARD).toml); do \
		case " board server mime $(strip $(FIRMWARE_SERVER_FEATURES)) " in \
		*" $$s "*) ;; \
		*) echo "firmware-server: board $(FIRMWARE_SERVER_BOARD) configures [$$s]:" \
			"select BR2_PACKAGE_FIRMWARE_SERVER_$$(echo $$s | tr a-z A-Z)"; \
			exit 1 ;; \
		esac; \
	done
endef
FIRMWARE_SERVER_POST_RSYNC_HOOKS += FIRMWARE_SERVER_CHECK_BOARD_PLUGINS
endif

# A local source is rsynced, not downloaded, so the cargo download step does
# not vendor its crates: fetch them (Cargo.lock, --locked) into Buildroot's
# cargo home before the --offline build.
define FIRMWARE_SERVER_CARGO_FETCH
	cd $(@D) && $(TARGET_MAKE_ENV) $(PKG_CARGO_ENV) \
		cargo fetch --locked --manifest-path Cargo.toml
endef
FIRMWARE_SERVER_PRE_BUILD_HOOKS += FIRMWARE_SERVER_CARGO_FETCH

# The workspace root has no package to "cargo install": copy the binary.
define FIRMWARE_SERVER_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0755 \
		$(@D)/target/$(RUSTC_TARGET_NAME)/$(if $(BR2_ENABLE_DEBUG),debug,release)/firmware-server \
		$(TARGET_DIR)/usr/sbin/firmware-server
	$(FIRMWARE_SERVER_INSTALL_CONFIG)
endef

$(eval $(cargo-package))

endif
