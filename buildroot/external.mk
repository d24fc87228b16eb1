include $(sort $(wildcard $(BR2_EXTERNAL_FIRMWARE_SERVER_PATH)/package/*/*.mk))
